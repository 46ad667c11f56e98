// The native test program (ctest: build/dendrite_native_test).
//
// CPU backend: every kernel against plain double-precision reference loops (reference.cpp) on
// seeded random inputs including awkward sizes, and every kernel run twice must give the same
// bits. CUDA backend, when a device exists: every kernel against the CPU backend on the same
// inputs, bit-identical random numbers, and two runs bit-identical; otherwise
// "CUDA: skipped (<reason>)".
//
// Tolerances (float32 results against exact or against the other backend):
//   reductions (gemm, gemv, ger, sums, conv): 2 * FLT_EPSILON * sqrt(terms) * sum |terms|
//     per element: the float32 accumulation error of a sum of `terms` products, which grows
//     like sqrt(terms) for rounding errors of random sign;
//   elementwise: relative 1e-5 (plus 4 FLT_EPSILON absolute for the sigmoids, which saturate);
//     relu and its gradient, max-pooling and argmax: exact;
//   softmax cross-entropy: relative 1e-5, absolute floors 1e-5 (loss), 1e-5 / batch (gradient);
//   batch norm: 16 * FLT_EPSILON * sqrt(N) * (|x| + max |x| of the output);
//   optimisers: relative 1e-5 of the magnitudes of each update's terms;
//   CUDA against the CPU: twice these (both sides carry float32 error).
//
// Segregated-dendrite network (check_segregated.cpp): CPU runs bit-identical run to run; the CUDA
// network against the CPU network from the same seed (tolerances stated there).
//
// Built a second time against the CUDA emulator (native/test/cuda_emu, without a GPU): then only
// the CUDA checks and the segregated ones run.
//
// Prints "ok name" or "FAILED name: detail" per check and ends with "N passed, N failed";
// exits 1 when anything failed.
#include <cstdio>
#include <exception>
#include <string>

#include "../common/backend.h"
#include "../common/devices.h"
#include "checks.h"
#include "harness.h"

using namespace dendrite;
using namespace dendrite::test;

namespace {

void run_all(Checker& ck, const Mode& mode, bool device) {
  check_linalg(ck, mode, device);
  check_elementwise(ck, mode, device);
  check_conv_pool(ck, mode, device);
  check_batchnorm(ck, mode, device);
  check_optim(ck, mode, device);
  check_empty(ck, mode);
}

}  // namespace

int main() {
  Checker ck;
  std::unique_ptr<Backend> cpu = make_cpu_backend(2);
#if !defined(DENDRITE_CUDA_EMULATOR)
  // The build against the CUDA emulator (dendrite_native_test_cuda_emu) checks only the CUDA
  // backend: its CPU kernels are the same code this program checks.
  check_parallel(ck);
  run_all(ck, Mode{cpu.get(), nullptr, "cpu"}, false);
  check_random_cpu(ck);
#endif

  const CudaInfo info = cuda_info();
  if (!info.unavailable.empty()) {
    ck.note("CUDA: skipped (" + info.unavailable + ")");
  } else {
    std::unique_ptr<Backend> cuda;
    ck.run("cuda backend starts", [&] {
      cuda = make_cuda_backend(0);
      return std::string();
    });
    if (cuda) {
      const CudaDeviceInfo& dev = info.devices.front();
      ck.note("CUDA: " + dev.name + " (compute " + std::to_string(dev.major) + "." + std::to_string(dev.minor) + ")");
      run_all(ck, Mode{cuda.get(), cpu.get(), "cuda"}, true);
      check_random_cuda(ck, *cuda, *cpu);
    }
  }

  check_segregated(ck);

  std::printf("%d passed, %d failed\n", ck.passed(), ck.failed());
  return ck.failed() > 0 ? 1 : 0;
}

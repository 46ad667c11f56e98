#include "devices.h"

#include <cstdlib>
#include <string>
#include <thread>

#include "error.h"

#if defined(__linux__)
#include <sched.h>
#endif

namespace dendrite {

namespace cpu {
const char* simd_level();  // native/cpu/cpu_info.cpp
}

namespace {
// A thread count from the environment variable `name` (1 to 1024), or 0.
int threads_from_env(const char* name) {
  const char* env = std::getenv(name);
  if (env == nullptr) return 0;
  char* end = nullptr;
  const long v = std::strtol(env, &end, 10);
  return end != env && *end == '\0' && v >= 1 && v <= 1024 ? static_cast<int>(v) : 0;
}
}  // namespace

int default_threads() {
#ifdef DENDRITE_THREADS
  // The TypeScript loader rejects invalid values of DENDRITE_NUM_THREADS with a clear message
  // before we get here. OMP_NUM_THREADS is honoured as OpenMP's runtime did, which the kernels
  // used before they had their own pool.
  if (const int t = threads_from_env("DENDRITE_NUM_THREADS")) return t;
  if (const int t = threads_from_env("OMP_NUM_THREADS")) return t;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
#else
  return 1;  // built single-threaded (DENDRITE_OPENMP=OFF)
#endif
}

CpuInfo cpu_info() {
  CpuInfo info;
  unsigned hw = std::thread::hardware_concurrency();
  info.logical_cores = hw == 0 ? 1 : static_cast<int>(hw);
  info.default_threads = default_threads();
#ifdef DENDRITE_THREADS
  info.openmp = true;
#endif
  info.simd = cpu::simd_level();
  return info;
}

DeviceSpec resolve_device(const std::string& text) {
  DeviceSpec spec;
  if (text == "cpu") return spec;
  if (text == "auto") {
    CudaInfo cuda = cuda_info();
    if (cuda.unavailable.empty()) {
      spec.kind = DeviceKind::Cuda;
      spec.index = 0;
    } else {
      spec.fallback_reason = cuda.unavailable;
    }
    return spec;
  }
  int index = 0;
  if (text.rfind("cuda:", 0) == 0) {
    const std::string digits = text.substr(5);
    if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos) {
      fail(ErrorKind::OutOfRange, "device \"" + text + "\" is not valid: expected cpu, cuda, cuda:N or auto");
    }
    index = std::stoi(digits);
  } else if (text != "cuda") {
    fail(ErrorKind::OutOfRange, "device \"" + text + "\" is not valid: expected cpu, cuda, cuda:N or auto");
  }
  CudaInfo cuda = cuda_info();
  if (!cuda.unavailable.empty()) fail(ErrorKind::DeviceUnavailable, "device \"" + text + "\": " + cuda.unavailable);
  if (index >= static_cast<int>(cuda.devices.size())) {
    fail(ErrorKind::DeviceUnavailable, "device \"" + text + "\": there are only " +
                                           std::to_string(cuda.devices.size()) + " CUDA device(s)");
  }
  spec.kind = DeviceKind::Cuda;
  spec.index = index;
  return spec;
}

}  // namespace dendrite

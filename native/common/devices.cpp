#include "devices.h"

#include <cstdlib>
#include <string>
#include <thread>

#include "error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dendrite {

namespace cpu {
const char* simd_level();  // native/cpu/cpu_info.cpp
}

int default_threads() {
#ifdef _OPENMP
  // The TypeScript loader rejects invalid values with a clear message before we get here.
  if (const char* env = std::getenv("DENDRITE_NUM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  return omp_get_max_threads();
#else
  return 1;  // without OpenMP every kernel is single-threaded
#endif
}

CpuInfo cpu_info() {
  CpuInfo info;
  unsigned hw = std::thread::hardware_concurrency();
  info.logical_cores = hw == 0 ? 1 : static_cast<int>(hw);
  info.default_threads = default_threads();
#ifdef _OPENMP
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

// Which CUDA devices exist, and why none can be used when that is so.
#include <cuda_runtime.h>

#include <string>

#include "../common/devices.h"

#if __has_include("cuda_build_info.h")
#include "cuda_build_info.h"
#else
#define DENDRITE_CUDA_ARCHITECTURES ""  // the CUDA emulator's build: no device code
#endif

namespace dendrite {

namespace {

CudaInfo query() {
  CudaInfo info;
  info.compiled = true;
  info.architectures = DENDRITE_CUDA_ARCHITECTURES;
  cudaRuntimeGetVersion(&info.runtime_version);
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaErrorInsufficientDriver || status == cudaErrorNoDevice) {
    // Error 35 (insufficient driver) is what a machine without any NVIDIA driver answers.
    info.unavailable = status == cudaErrorNoDevice ? "no CUDA device found"
                                                   : "no NVIDIA driver found (or it is older than this CUDA runtime)";
    return info;
  }
  if (status != cudaSuccess) {
    info.unavailable = std::string("CUDA could not be initialised: ") + cudaGetErrorString(status);
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.total_memory = prop.totalGlobalMem;
    d.major = prop.major;
    d.minor = prop.minor;
    d.multiprocessors = prop.multiProcessorCount;
    info.devices.push_back(d);
  }
  if (info.devices.empty()) info.unavailable = "no CUDA device found";
  return info;
}

}  // namespace

// Devices do not come and go while a process runs: ask the driver once.
CudaInfo cuda_info() {
  static const CudaInfo info = query();
  return info;
}

}  // namespace dendrite

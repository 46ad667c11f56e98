// What hardware the library can use, and how a device string ("cpu", "cuda", "cuda:N",
// "auto") maps onto it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace dendrite {

struct CpuInfo {
  int logical_cores = 1;   // hardware threads the OS reports
  int default_threads = 1; // DENDRITE_NUM_THREADS, else OMP_NUM_THREADS, else the cores this process may use
  bool openmp = false;     // multi-threaded kernels (the DENDRITE_OPENMP build switch; our own thread pool)
  std::string simd;        // best instruction set found at run time: "avx512", "avx2", "sse2", "neon" or "scalar"
};

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  size_t total_memory = 0;
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
};

struct CudaInfo {
  bool compiled = false;     // the addon was built with the CUDA backend
  std::string architectures; // what its device code was built for, e.g. "75-real,80-real,86-real,90" (CMake's list)
  std::string unavailable;   // empty when at least one device can be used, else why not
  int runtime_version = 0;   // e.g. 13000
  int driver_version = 0;    // 0 when there is no driver
  std::vector<CudaDeviceInfo> devices;
};

CpuInfo cpu_info();
CudaInfo cuda_info();

enum class DeviceKind { Cpu, Cuda };

struct DeviceSpec {
  DeviceKind kind = DeviceKind::Cpu;
  int index = 0;                // CUDA device index
  std::string fallback_reason;  // set when "auto" fell back to the CPU
};

// Parses and resolves a device string. Throws Error(OutOfRange) for a string that means
// nothing, Error(DeviceUnavailable) when CUDA is asked for and cannot be used.
DeviceSpec resolve_device(const std::string& text);

// The thread count used when a call does not give one: DENDRITE_NUM_THREADS if set and valid,
// else OMP_NUM_THREADS (as OpenMP's runtime read it), else the cores this process may run on
// (1 in a single-threaded build).
int default_threads();

}  // namespace dendrite

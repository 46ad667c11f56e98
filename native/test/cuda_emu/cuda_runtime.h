// The CUDA emulator's stand-in for <cuda_runtime.h>: lets the CUDA backend (native/cuda/*.cu)
// compile as plain C++ and run on the CPU, so that the native test program checks every CUDA
// kernel against the CPU backend on machines without a GPU (build/dendrite_native_test_cuda_emu).
//
// What it models: the thread hierarchy (blocks of up to 1024 threads in 3-D, grids in 3-D),
// __shared__ memory per block, __syncthreads, full-warp __shfl_xor_sync, the launch limits, the
// runtime calls the backend makes, and the device intrinsics it uses. Each CUDA thread is a fiber;
// the threads of a block run one at a time between barriers, in an order chosen by the schedule
// (DENDRITE_CUDA_EMU_SCHEDULE=forward|reverse|shuffle[:seed], default shuffle:1; blocks are
// ordered the same way), so a result that depends on the order of unsynchronised threads or blocks
// (a race) shows up as a mismatch against the CPU. Misuse that real hardware punishes with a hang
// or undefined results is reported as a launch error: a __syncthreads that not every thread of
// the block reaches, a shuffle with lanes missing, an invalid launch configuration. (Threads
// waiting at different __syncthreads calls are not told apart: C++ compilers merge and duplicate
// those calls.) Copies and memsets outside a device allocation return cudaErrorInvalidValue.
// Translated sources are compiled with __CUDA_ARCH__ defined, so the device branches of shared
// headers (philox.h) are the code tested.
//
// What it does not model: timing, the memory model of concurrent threads (each thread runs
// alone), per-SM resources (registers, the 48 KiB static shared memory limit), __launch_bounds__,
// uninitialised shared memory (it keeps the previous block's values), the accuracy of the GPU's
// math functions (expf, logf, ... are the host's) and nvcc's contraction of a * b + c into FMA
// (the emulated build contracts nothing, so it cannot show a missing __fmul_rn).
//
// Kernel launches `k<<<grid, block, shmem, stream>>>(args)` are rewritten to
// `::cuda_emu::Launch(grid, block, shmem, stream).run("k", k, args)` by translate.cmake before
// compiling.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- declaration specifiers ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
// One block runs at a time on a host thread, so a static per host thread is the block's memory.
#define __shared__ static thread_local
#define __align__(n) __attribute__((aligned(n)))

// ---- vector types ----
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
// may_alias: kernels read float arrays through float4 pointers, as CUDA allows.
struct __attribute__((aligned(16), may_alias)) float4 {
  float x, y, z, w;
};

// ---- runtime types ----
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;
constexpr unsigned cudaStreamNonBlocking = 1;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor;
  int multiProcessorCount;
};

// ---- runtime API (cuda_emu.cpp) ----
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);

namespace cuda_emu {

// Where the running CUDA thread is; current() points at it while a kernel runs.
struct ThreadPlace {
  uint3 thread_idx, block_idx;
  dim3 block_dim, grid_dim;
  unsigned linear;  // threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)
};
// A function-local thread_local, not an extern one: GCC 12 with -fsanitize=null miscompiles the
// null check of an extern thread_local's address (a stale flag from the TLS-init test).
inline const ThreadPlace*& current() noexcept {
  static thread_local const ThreadPlace* place = nullptr;
  return place;
}

// Sets this host thread's schedule ("forward", "reverse", "shuffle" or "shuffle:SEED"); false
// when the text is none of these. The environment variable sets the initial one.
bool set_schedule(const char* spec);

void syncthreads();
// Full-warp exchange: every lane of the caller's warp puts `bits`, and gets lane `src`'s.
uint64_t warp_exchange(unsigned mask, uint64_t bits, unsigned src_lane);
[[noreturn]] void device_fault(const char* what);

// Runs kernel(args) on every thread of grid x block (block by block, threads as fibers).
class Launch {
 public:
  Launch(dim3 grid, dim3 block, size_t shared_bytes = 0, cudaStream_t stream = nullptr)
      : grid_(grid), block_(block), shared_bytes_(shared_bytes), stream_(stream) {}

  template <class... Params, class... Args>
  void run(const char* name, void (*kernel)(Params...), Args&&... args) {
    static_assert(sizeof...(Params) == sizeof...(Args), "kernel launched with the wrong number of arguments");
    // The arguments as the kernel's parameter types, like the copy CUDA makes at launch; each
    // thread then gets its own copy of each parameter.
    std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
    auto body = [&] { std::apply(kernel, params); };
    execute(name, [](void* b) { (*static_cast<decltype(body)*>(b))(); }, &body);
  }

 private:
  void execute(const char* name, void (*body)(void*), void* arg);
  dim3 grid_, block_;
  size_t shared_bytes_;
  cudaStream_t stream_;
};

}  // namespace cuda_emu

#define threadIdx (::cuda_emu::current()->thread_idx)
#define blockIdx (::cuda_emu::current()->block_idx)
#define blockDim (::cuda_emu::current()->block_dim)
#define gridDim (::cuda_emu::current()->grid_dim)

inline void __syncthreads() { ::cuda_emu::syncthreads(); }

template <class T>
inline T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  if (width != 32) ::cuda_emu::device_fault("__shfl_xor_sync: only width 32 is emulated");
  if (lane_mask < 0 || lane_mask > 31) ::cuda_emu::device_fault("__shfl_xor_sync: lane mask out of range");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  const unsigned lane = ::cuda_emu::current()->linear % 32u;
  bits = ::cuda_emu::warp_exchange(mask, bits, lane ^ static_cast<unsigned>(lane_mask));
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

// ---- arithmetic intrinsics: IEEE, rounded to nearest, never fused (compiled with
// -ffp-contract=off) ----
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }
inline float __double2float_rn(double a) { return static_cast<float>(a); }  // the default rounding: nearest
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
template <class To, class From>
inline To cuda_emu_bit_cast(From f) {
  static_assert(sizeof(To) == sizeof(From), "bit cast between types of different sizes");
  To t;
  std::memcpy(&t, &f, sizeof t);
  return t;
}
inline float __uint_as_float(unsigned u) { return cuda_emu_bit_cast<float>(u); }
inline unsigned __float_as_uint(float f) { return cuda_emu_bit_cast<unsigned>(f); }
inline double __longlong_as_double(long long i) { return cuda_emu_bit_cast<double>(i); }
inline long long __double_as_longlong(double d) { return cuda_emu_bit_cast<long long>(d); }
inline float __int_as_float(int i) { return cuda_emu_bit_cast<float>(i); }
inline int __float_as_int(float f) { return cuda_emu_bit_cast<int>(f); }
// expf, logf, sqrtf, fmaf, fmaxf, acos ...: the host's, from <cmath>; CUDA also has these
// classifications in the global namespace.
using std::isfinite;
using std::isinf;
using std::isnan;

// Checks of the CUDA emulator itself (build/dendrite_cuda_emu_selftest): correct kernels give the
// right answers under every schedule, and the mistakes it exists to catch are caught: a race
// between threads or blocks changes the result with the schedule, a divergent barrier or
// shuffle and a bad launch are launch errors, and copies outside an allocation are refused.
// Translated by translate.cmake like the backend's sources, so its launches test that too.
#include <cuda_runtime.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "../harness.h"

using dendrite::test::Checker;

namespace {

// out[b] = sum of in[b * blockDim .. ] over one block, through shared memory and barriers.
__global__ void block_sum_kernel(const float* in, float* out) {
  __shared__ float part[1024];
  const unsigned t = threadIdx.x;
  part[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
    if (t < h) part[t] += part[t + h];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = part[0];
}

// The same without the barriers: which partial sums a thread sees depends on the order.
__global__ void racy_sum_kernel(const float* in, float* out) {
  __shared__ float part[1024];
  const unsigned t = threadIdx.x;
  part[t] = in[blockIdx.x * blockDim.x + t];
  for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
    if (t < h) part[t] += part[t + h];
  }
  if (t == 0) out[blockIdx.x] = part[0];
}

// Every block overwrites one value: the last block to run wins.
__global__ void last_block_wins_kernel(int* out) {
  if (threadIdx.x == 0) *out = static_cast<int>(blockIdx.x);
}

// Lane i gets lane i ^ m's value.
__global__ void shuffle_kernel(int m, int* out) {
  const int v = static_cast<int>(threadIdx.x) * 10;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, v, m);
}

// Threads 16 and up leave before the barrier the others wait at.
__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x >= 16) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

// Half a warp leaves before the other half shuffles.
__global__ void divergent_shuffle_kernel(int* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}

// Every thread shuffles; launched with a block that ends in a partial warp.
__global__ void partial_warp_shuffle_kernel(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}

// Records each thread's coordinates, for 2-D and 3-D blocks and grids.
__global__ void coordinates_kernel(unsigned* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned i = block * blockDim.x * blockDim.y * blockDim.z + thread;
  out[4 * i] = threadIdx.x + 100 * threadIdx.y + 10000 * threadIdx.z;
  out[4 * i + 1] = blockIdx.x;
  out[4 * i + 2] = blockIdx.y;
  out[4 * i + 3] = blockIdx.z;
}

// Device buffer of n T, freed on scope exit.
template <class T>
struct Buffer {
  T* p = nullptr;
  explicit Buffer(size_t n) {
    if (cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)) != cudaSuccess) throw std::runtime_error("cudaMalloc");
  }
  ~Buffer() { cudaFree(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

template <class T>
std::vector<T> download(const T* p, size_t n) {
  std::vector<T> h(n);
  if (cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) throw std::runtime_error("copy");
  return h;
}

// Block sums of 4 blocks of `threads` values 1, 2, 3, ... (exact in float), under `schedule`.
std::vector<float> sums(bool racy, unsigned threads, const char* schedule) {
  cuda_emu::set_schedule(schedule);
  const unsigned blocks = 4;
  std::vector<float> h(blocks * threads);
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<float>(i % threads + 1);
  Buffer<float> in(h.size()), out(blocks);
  cudaMemcpy(in.p, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice);
  if (racy) {
    racy_sum_kernel<<<blocks, threads>>>(in.p, out.p);
  } else {
    block_sum_kernel<<<blocks, threads>>>(in.p, out.p);
  }
  if (cudaGetLastError() != cudaSuccess) throw std::runtime_error("launch failed");
  return download(out.p, blocks);
}

std::string expect_launch_error(cudaError_t want, const char* what) {
  const cudaError_t got = cudaGetLastError();
  if (got != want) {
    const std::string got_text = cudaGetErrorString(got);  // one buffer per thread: copy it first
    return std::string(what) + ": got " + got_text + ", want " + cudaGetErrorString(want);
  }
  return "";
}

}  // namespace

int main() {
  Checker ck;
  const char* schedules[] = {"forward", "reverse", "shuffle", "shuffle:7"};

  ck.run("block sums with barriers are right under every schedule", [&]() -> std::string {
    for (unsigned threads : {32u, 256u, 1024u}) {
      const float want = 0.5f * threads * (threads + 1);
      for (const char* s : schedules) {
        for (float v : sums(false, threads, s)) {
          if (v != want) return std::string("schedule ") + s + ": " + std::to_string(v) + " != " + std::to_string(want);
        }
      }
    }
    return "";
  });

  ck.run("a missing barrier changes the result with the schedule", [&]() -> std::string {
    const float want = 0.5f * 256 * 257;
    const std::vector<float> forward = sums(true, 256, "forward"), reverse = sums(true, 256, "reverse");
    if (forward == reverse) return "forward and reverse schedules agree on a racy kernel";
    for (float v : forward) {
      if (v != want) return "";  // the race shows as a wrong sum under some schedule
    }
    for (float v : reverse) {
      if (v != want) return "";
    }
    return "the racy kernel was right under both schedules";
  });

  ck.run("blocks run in the schedule's order (races between blocks show)", [&]() -> std::string {
    Buffer<int> out(1);
    int last[2];
    const char* order[2] = {"forward", "reverse"};
    for (int k = 0; k < 2; ++k) {
      cuda_emu::set_schedule(order[k]);
      last_block_wins_kernel<<<70000, 32>>>(out.p);  // more blocks than 2^16
      if (cudaGetLastError() != cudaSuccess) return "launch failed";
      last[k] = download(out.p, 1)[0];
    }
    if (last[0] != 69999 || last[1] != 0) {
      return "last block " + std::to_string(last[0]) + " (forward), " + std::to_string(last[1]) + " (reverse)";
    }
    return "";
  });

  ck.run("warp shuffles exchange lane i ^ m", [&]() -> std::string {
    cuda_emu::set_schedule("shuffle");
    Buffer<int> out(64);
    for (int m : {1, 5, 16, 31}) {
      shuffle_kernel<<<1, 64>>>(m, out.p);
      if (cudaGetLastError() != cudaSuccess) return "launch failed";
      const std::vector<int> h = download(out.p, 64);
      for (int i = 0; i < 64; ++i) {
        const int want = ((i & ~31) + ((i & 31) ^ m)) * 10;
        if (h[i] != want) return "m=" + std::to_string(m) + " lane " + std::to_string(i) + ": " + std::to_string(h[i]);
      }
    }
    return "";
  });

  ck.run("thread and block coordinates in 3-D", [&]() -> std::string {
    const dim3 grid(3, 2, 2), block(4, 3, 2);
    const unsigned n = 3 * 2 * 2 * 4 * 3 * 2;
    Buffer<unsigned> out(4 * n);
    coordinates_kernel<<<grid, block>>>(out.p);
    if (cudaGetLastError() != cudaSuccess) return "launch failed";
    const std::vector<unsigned> h = download(out.p, 4 * n);
    unsigned i = 0;
    for (unsigned bz = 0; bz < 2; ++bz)
      for (unsigned by = 0; by < 2; ++by)
        for (unsigned bx = 0; bx < 3; ++bx)
          for (unsigned tz = 0; tz < 2; ++tz)
            for (unsigned ty = 0; ty < 3; ++ty)
              for (unsigned tx = 0; tx < 4; ++tx, ++i) {
                if (h[4 * i] != tx + 100 * ty + 10000 * tz || h[4 * i + 1] != bx || h[4 * i + 2] != by ||
                    h[4 * i + 3] != bz) {
                  return "thread " + std::to_string(i) + " saw the wrong coordinates";
                }
              }
    return "";
  });

  ck.run("a barrier some threads skip is a launch error, and the next launch works", [&]() -> std::string {
    Buffer<int> out(64);
    divergent_barrier_kernel<<<1, 64>>>(out.p);
    std::string e = expect_launch_error(cudaErrorLaunchFailure, "divergent __syncthreads");
    if (!e.empty()) return e;
    const std::vector<float> s = sums(false, 64, "shuffle");
    return s[0] == 0.5f * 64 * 65 ? "" : "the launch after a fault gave a wrong sum";
  });

  ck.run("a shuffle with exited lanes is a launch error", [&]() -> std::string {
    Buffer<int> out(32);
    divergent_shuffle_kernel<<<1, 32>>>(out.p);
    return expect_launch_error(cudaErrorLaunchFailure, "divergent shuffle");
  });

  ck.run("a full-warp shuffle in a partial warp is a launch error, and the next launch works", [&]() -> std::string {
    Buffer<int> out(64);
    partial_warp_shuffle_kernel<<<1, 48>>>(out.p);
    std::string e = expect_launch_error(cudaErrorLaunchFailure, "shuffle in a warp of 16");
    if (!e.empty()) return e;
    shuffle_kernel<<<1, 64>>>(3, out.p);
    if (cudaGetLastError() != cudaSuccess) return "the launch after the fault failed";
    return download(out.p, 1)[0] == 30 ? "" : "the launch after the fault gave a wrong value";
  });

  ck.run("invalid launch configurations are refused", [&]() -> std::string {
    Buffer<int> out(1);
    last_block_wins_kernel<<<1, 1025>>>(out.p);
    std::string e = expect_launch_error(cudaErrorInvalidConfiguration, "1025 threads");
    if (e.empty()) {
      last_block_wins_kernel<<<0, 32>>>(out.p);
      e = expect_launch_error(cudaErrorInvalidConfiguration, "0 blocks");
    }
    if (e.empty()) {
      last_block_wins_kernel<<<dim3(1, 65536), 32>>>(out.p);
      e = expect_launch_error(cudaErrorInvalidConfiguration, "grid y 65536");
    }
    return e;
  });

  ck.run("copies and frees outside the device's allocations are refused", [&]() -> std::string {
    Buffer<float> d(10);
    std::vector<float> h(11);
    if (cudaMemcpy(d.p, h.data(), 11 * sizeof(float), cudaMemcpyHostToDevice) != cudaErrorInvalidValue) {
      return "a copy past the end of an allocation was accepted";
    }
    if (cudaMemcpy(h.data(), d.p, 10 * sizeof(float), cudaMemcpyHostToDevice) != cudaErrorInvalidValue) {
      return "a copy with host and device swapped was accepted";
    }
    if (cudaMemset(d.p + 5, 0, 6 * sizeof(float)) != cudaErrorInvalidValue) return "a memset past the end was accepted";
    if (cudaFree(h.data()) != cudaErrorInvalidDevicePointer) return "freeing a host pointer was accepted";
    cudaGetLastError();
    if (cudaMemcpy(d.p + 2, h.data(), 8 * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess) {
      return "a copy inside the allocation was refused";
    }
    return "";
  });

  std::printf("%d passed, %d failed\n", ck.passed(), ck.failed());
  return ck.failed() > 0 ? 1 : 0;
}

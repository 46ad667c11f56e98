// Small helpers shared by the CUDA kernels: launch sizes for grid-stride loops and reductions
// whose order is fixed (a shuffle tree per warp, then a tree over the warps), so that every
// launch with the same block size gives bit-identical sums. No atomics anywhere.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dendrite::cuda {

constexpr int kBlock = 256;

// Blocks for a grid-stride loop over n items: one item per thread up to a cap (the loop covers
// the rest), at least one block.
inline unsigned grid_for(int64_t n, int threads = kBlock) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  const int64_t cap = int64_t(1) << 20;
  return static_cast<unsigned>(blocks < cap ? blocks : cap);
}

// Grid size for one block (or warp group) per item, capped; kernels loop over the rest.
inline unsigned grid_cap(int64_t items, int64_t cap = 65535) {
  if (items < 1) return 1;
  return static_cast<unsigned>(items < cap ? items : cap);
}

__device__ __forceinline__ int64_t thread_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t thread_count() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Sum over the 32 lanes of a warp (all lanes must be active): a fixed shuffle tree, the total
// broadcast to every lane.
__device__ __forceinline__ float warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

// Sum of v over the whole block (blockDim.x a multiple of 32, at most 1024), returned to every
// thread. `scratch` must hold 33 floats; all threads of the block must call this.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < warps ? scratch[lane] : 0.0f;
    w = warp_sum(w);
    if (lane == 0) scratch[32] = w;
  }
  __syncthreads();
  const float total = scratch[32];
  __syncthreads();  // scratch may be reused as soon as this returns
  return total;
}

}  // namespace dendrite::cuda

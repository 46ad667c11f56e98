// Row and column reductions of a row-major matrix, optionally weighted by a vector: the kernels
// behind gemv (gemm.cu) and row_sums / col_sums (elementwise.cu). Every output is reduced in a
// fixed order by one warp or one block, never with atomics, so results are bit-identical run to
// run.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "device_util.cuh"

namespace dendrite::cuda {
namespace {

// One warp per row, 8 rows per block of 256: lane l sums columns l, l + 32, ... in order, then
// a fixed shuffle tree. WithX: y[r] = alpha * sum_c a[r, c] x[c] + beta * y[r] (y not read when
// beta == 0); else y[r] = sum_c a[r, c].
template <bool WithX>
__global__ void row_reduce_kernel(int64_t rows, int64_t cols, const float* __restrict__ a,
                                  const float* __restrict__ x, float alpha, float beta, float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = thread_count() >> 5;
  for (int64_t r = thread_index() >> 5; r < rows; r += warps) {  // uniform within a warp
    const float* row = a + r * cols;
    float s = 0.0f;
    for (int64_t c = lane; c < cols; c += 32) s = WithX ? fmaf(row[c], x[c], s) : s + row[c];
    s = warp_sum(s);
    if (lane == 0) {
      if (WithX) {
        const float v = alpha * s;
        y[r] = beta == 0.0f ? v : v + beta * y[r];
      } else {
        y[r] = s;
      }
    }
  }
}

inline unsigned row_reduce_grid(int64_t rows) { return grid_cap((rows + 7) / 8, int64_t(1) << 20); }

// Blocks of (TX, TY) threads, TX * TY = kBlock, both powers of two: a block owns TX adjacent
// columns (coalesced reads); thread (tx, ty) sums rows ty, ty + TY, ... in order, then a fixed
// tree over ty. WithX: y[c] = alpha * sum_r a[r, c] x[r] + beta * y[c]; else y[c] = sum_r a[r, c].
template <bool WithX>
__global__ void col_reduce_kernel(int64_t rows, int64_t cols, const float* __restrict__ a,
                                  const float* __restrict__ x, float alpha, float beta, float* __restrict__ y) {
  __shared__ float part[kBlock];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int TX = blockDim.x, TY = blockDim.y;
  for (int64_t c0 = static_cast<int64_t>(blockIdx.x) * TX; c0 < cols;
       c0 += static_cast<int64_t>(gridDim.x) * TX) {
    const int64_t c = c0 + tx;
    float s = 0.0f;
    if (c < cols) {
      for (int64_t r = ty; r < rows; r += TY) s = WithX ? fmaf(a[r * cols + c], x[r], s) : s + a[r * cols + c];
    }
    part[ty * TX + tx] = s;
    __syncthreads();
    for (int h = TY / 2; h > 0; h >>= 1) {
      if (ty < h) part[ty * TX + tx] += part[(ty + h) * TX + tx];
      __syncthreads();
    }
    if (ty == 0 && c < cols) {
      const float v = part[tx];
      if (WithX) {
        const float t = alpha * v;
        y[c] = beta == 0.0f ? t : t + beta * y[c];
      } else {
        y[c] = v;
      }
    }
    __syncthreads();  // part is rewritten for the next column tile
  }
}

// Block shape of col_reduce_kernel: TX = min(32, the power of two >= cols), TY = kBlock / TX.
inline dim3 col_reduce_block(int64_t cols) {
  int tx = 1;
  while (tx < 32 && tx < cols) tx *= 2;
  return dim3(tx, kBlock / tx);
}

inline unsigned col_reduce_grid(int64_t cols, const dim3& block) {
  return grid_cap((cols + block.x - 1) / block.x, int64_t(1) << 20);
}

}  // namespace
}  // namespace dendrite::cuda

// Dense linear algebra on the GPU: a shared-memory tiled SGEMM, gemv and ger.
//
// SGEMM: each block computes a BM x BN tile of C, each thread a TM x TN register tile of it,
// stepping through k in slices of BK staged in shared memory. Every C element is reduced by one
// thread as acc = fma(a[i,p], b[p,j], acc) for p = 0, 1, ..., k-1 in order, so the result does not
// depend on the tile configuration, the launch or the run (deterministic, no split-k, no atomics).
#include <climits>
#include <cstdint>

#include "../common/error.h"
#include "cuda_check.cuh"
#include "device_util.cuh"
#include "gemm_internal.cuh"
#include "reduce.cuh"
#include "kernels.cuh"

namespace dendrite::cuda {
namespace {

struct GemmArgs {
  const float* a;
  const float* b;
  float* c;
  int64_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  int64_t count, stride_a, stride_b, stride_c;
  int64_t m_tiles;
};

// One k step of the register tile: acc[i][j] += As[kk][row i] * Bs[kk][col j].
template <int BM, int BN, int BK, int TM, int TN>
__device__ __forceinline__ void mac_step(const float (&As)[BK][BM + 4], const float (&Bs)[BK][BN + 4], int kk,
                                         int ty, int tx, float (&acc)[TM][TN]) {
  float ra[TM], rb[TN];
#pragma unroll
  for (int i = 0; i < TM; i += 4) {
    const float4 t = *reinterpret_cast<const float4*>(&As[kk][ty * TM + i]);
    ra[i] = t.x;
    ra[i + 1] = t.y;
    ra[i + 2] = t.z;
    ra[i + 3] = t.w;
  }
#pragma unroll
  for (int j = 0; j < TN; j += 4) {
    const float4 t = *reinterpret_cast<const float4*>(&Bs[kk][tx * TN + j]);
    rb[j] = t.x;
    rb[j + 1] = t.y;
    rb[j + 2] = t.z;
    rb[j + 3] = t.w;
  }
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(ra[i], rb[j], acc[i][j]);
}

// Loads 4 floats at src[0..3] where in range (`avail` of them exist), zeros elsewhere; one
// float4 load when VEC (16-byte aligned source) and all 4 exist.
template <bool VEC>
__device__ __forceinline__ void load4(const float* src, int64_t avail, float (&v)[4]) {
  if (VEC && avail >= 4) {
    const float4 t = *reinterpret_cast<const float4*>(src);
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
  } else {
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = j < avail ? src[j] : 0.0f;
  }
}

// TA/TB: op(A) = A^T / op(B) = B^T. VEC: A, B, lda, ldb and the batch strides are multiples of
// 4 floats (16-byte aligned rows), so tiles can be read with float4 loads.
template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, bool VEC>
__global__ void __launch_bounds__((BM / TM) * (BN / TN)) sgemm_kernel(const GemmArgs p) {
  constexpr int kThreads = (BM / TM) * (BN / TN);
  static_assert(BK % 4 == 0 && BM % 4 == 0 && BN % 4 == 0 && TM % 4 == 0 && TN % 4 == 0, "float4 tiles");
  // Rows padded by 4 floats: still 16-byte aligned, and the transposed stores below no longer
  // all fall into the same banks.
  __shared__ __align__(16) float As[BK][BM + 4];
  __shared__ __align__(16) float Bs[BK][BN + 4];
  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN);
  const int ty = tid / (BN / TN);
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * BN;

  // Grid-stride over batch (z) and row tiles (y): both may exceed the 65535 grid limit.
  for (int64_t z = blockIdx.z; z < p.count; z += gridDim.z) {
    const float* __restrict__ A = p.a + z * p.stride_a;
    const float* __restrict__ B = p.b + z * p.stride_b;
    float* __restrict__ C = p.c + z * p.stride_c;
    for (int64_t mt = blockIdx.y; mt < p.m_tiles; mt += gridDim.y) {
      const int64_t row0 = mt * BM;
      float acc[TM][TN];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

      for (int64_t k0 = 0; k0 < p.k; k0 += BK) {
        // Tile of op(A): rows row0.., k k0.. -> As[k][m].
        if (!TA) {  // A stored m x k: items of 4 consecutive k in one row
          for (int g = tid; g < BM * BK / 4; g += kThreads) {
            const int r = g / (BK / 4), kc = (g % (BK / 4)) * 4;
            const int64_t gi = row0 + r, gk = k0 + kc;
            float v[4];
            load4<VEC>(A + gi * p.lda + gk, gi < p.m ? p.k - gk : 0, v);
#pragma unroll
            for (int j = 0; j < 4; ++j) As[kc + j][r] = v[j];
          }
        } else {  // A stored k x m: items of 4 consecutive m in one k row
          for (int g = tid; g < BM * BK / 4; g += kThreads) {
            const int kr = g / (BM / 4), mc = (g % (BM / 4)) * 4;
            const int64_t gk = k0 + kr, gi = row0 + mc;
            float v[4];
            load4<VEC>(A + gk * p.lda + gi, gk < p.k ? p.m - gi : 0, v);
#pragma unroll
            for (int j = 0; j < 4; ++j) As[kr][mc + j] = v[j];
          }
        }
        // Tile of op(B): k k0.., columns col0.. -> Bs[k][n].
        if (!TB) {  // B stored k x n
          for (int g = tid; g < BN * BK / 4; g += kThreads) {
            const int kr = g / (BN / 4), nc = (g % (BN / 4)) * 4;
            const int64_t gk = k0 + kr, gj = col0 + nc;
            float v[4];
            load4<VEC>(B + gk * p.ldb + gj, gk < p.k ? p.n - gj : 0, v);
#pragma unroll
            for (int j = 0; j < 4; ++j) Bs[kr][nc + j] = v[j];
          }
        } else {  // B stored n x k
          for (int g = tid; g < BN * BK / 4; g += kThreads) {
            const int r = g / (BK / 4), kc = (g % (BK / 4)) * 4;
            const int64_t gj = col0 + r, gk = k0 + kc;
            float v[4];
            load4<VEC>(B + gj * p.ldb + gk, gj < p.n ? p.k - gk : 0, v);
#pragma unroll
            for (int j = 0; j < 4; ++j) Bs[kc + j][r] = v[j];
          }
        }
        __syncthreads();
        // Only the k that exist: the sequence of FMAs per element is exactly p = 0..k-1.
        const int kmax = p.k - k0 < BK ? static_cast<int>(p.k - k0) : BK;
        if (kmax == BK) {
#pragma unroll
          for (int kk = 0; kk < BK; ++kk) mac_step<BM, BN, BK, TM, TN>(As, Bs, kk, ty, tx, acc);
        } else {
          for (int kk = 0; kk < kmax; ++kk) mac_step<BM, BN, BK, TM, TN>(As, Bs, kk, ty, tx, acc);
        }
        __syncthreads();
      }

      // C = alpha * acc + beta * C; C is not read when beta == 0.
#pragma unroll
      for (int i = 0; i < TM; ++i) {
        const int64_t gi = row0 + ty * TM + i;
        if (gi >= p.m) continue;
        float* crow = C + gi * p.ldc;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
          const int64_t gj = col0 + tx * TN + j;
          if (gj < p.n) {
            const float r = p.alpha * acc[i][j];
            crow[gj] = p.beta == 0.0f ? r : r + p.beta * crow[gj];
          }
        }
      }
    }
  }
}

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
void launch_vec(const GemmArgs& p, bool vec, dim3 grid, cudaStream_t stream) {
  constexpr int threads = (BM / TM) * (BN / TN);
  if (vec) {
    sgemm_kernel<BM, BN, BK, TM, TN, TA, TB, true><<<grid, threads, 0, stream>>>(p);
  } else {
    sgemm_kernel<BM, BN, BK, TM, TN, TA, TB, false><<<grid, threads, 0, stream>>>(p);
  }
}

template <int BM, int BN, int BK, int TM, int TN>
void launch_tiles(GemmArgs p, bool ta, bool tb, bool vec, cudaStream_t stream) {
  const int64_t n_tiles = (p.n + BN - 1) / BN;
  if (n_tiles > INT_MAX) fail(ErrorKind::OutOfRange, "cuda gemm: n is too large");
  p.m_tiles = (p.m + BM - 1) / BM;
  const dim3 grid(static_cast<unsigned>(n_tiles), grid_cap(p.m_tiles), grid_cap(p.count));
  if (ta) {
    if (tb) {
      launch_vec<BM, BN, BK, TM, TN, true, true>(p, vec, grid, stream);
    } else {
      launch_vec<BM, BN, BK, TM, TN, true, false>(p, vec, grid, stream);
    }
  } else {
    if (tb) {
      launch_vec<BM, BN, BK, TM, TN, false, true>(p, vec, grid, stream);
    } else {
      launch_vec<BM, BN, BK, TM, TN, false, false>(p, vec, grid, stream);
    }
  }
  check_launch("sgemm_kernel");
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

__global__ void ger_kernel(int64_t rows, int64_t cols, float alpha, const float* __restrict__ x,
                           const float* __restrict__ y, float* __restrict__ a) {
  const int64_t total = rows * cols;
  for (int64_t i = thread_index(); i < total; i += thread_count()) {
    const int64_t r = i / cols, c = i - r * cols;
    a[i] += alpha * x[r] * y[c];
  }
}

}  // namespace

void gemm_batched(const GemmShape& g, const float* a, const float* b, float* c, const GemmBatch& batch,
                  cudaStream_t stream) {
  if (g.m <= 0 || g.n <= 0 || batch.count <= 0) return;
  GemmArgs p{};
  p.a = a;
  p.b = b;
  p.c = c;
  p.m = g.m;
  p.n = g.n;
  p.k = g.k < 0 ? 0 : g.k;
  p.lda = g.lda;
  p.ldb = g.ldb;
  p.ldc = g.ldc;
  p.alpha = g.alpha;
  p.beta = g.beta;
  p.count = batch.count;
  p.stride_a = batch.stride_a;
  p.stride_b = batch.stride_b;
  p.stride_c = batch.stride_c;
  const bool vec = aligned16(a) && aligned16(b) && g.lda % 4 == 0 && g.ldb % 4 == 0 &&
                   (batch.count == 1 || (batch.stride_a % 4 == 0 && batch.stride_b % 4 == 0));
  // Large problems: 128 x 128 tiles of 8 x 8 per thread; otherwise 64 x 64 tiles of 4 x 4, so
  // that small or thin products still spread over many blocks. Either gives the same bits.
  const int64_t big_tiles = ((g.m + 127) / 128) * ((g.n + 127) / 128) * batch.count;
  if (g.m >= 128 && g.n >= 128 && big_tiles >= 256) {
    launch_tiles<128, 128, 8, 8, 8>(p, g.trans_a, g.trans_b, vec, stream);
  } else {
    launch_tiles<64, 64, 8, 4, 4>(p, g.trans_a, g.trans_b, vec, stream);
  }
}

void gemm(const GemmShape& g, const float* a, const float* b, float* c, cudaStream_t stream) {
  gemm_batched(g, a, b, c, GemmBatch{}, stream);
}

void gemv(bool trans, int64_t rows, int64_t cols, float alpha, const float* a, const float* x, float beta, float* y,
          cudaStream_t stream) {
  if ((trans ? cols : rows) <= 0) return;
  if (!trans) {
    row_reduce_kernel<true><<<row_reduce_grid(rows), kBlock, 0, stream>>>(rows, cols, a, x, alpha, beta, y);
    check_launch("gemv (row_reduce_kernel)");
  } else {
    const dim3 block = col_reduce_block(cols);
    col_reduce_kernel<true><<<col_reduce_grid(cols, block), block, 0, stream>>>(rows, cols, a, x, alpha, beta, y);
    check_launch("gemv (col_reduce_kernel)");
  }
}

void ger(int64_t rows, int64_t cols, float alpha, const float* x, const float* y, float* a, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  ger_kernel<<<grid_for(rows * cols), kBlock, 0, stream>>>(rows, cols, alpha, x, y, a);
  check_launch("ger_kernel");
}

}  // namespace dendrite::cuda

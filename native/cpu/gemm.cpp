// Dense linear algebra on the CPU: packed, cache-blocked GEMM (GotoBLAS/BLIS scheme), GEMV and
// GER, on the thread pool (parallel.h) and with a run-time choice of AVX-512, AVX2+FMA or portable kernels.
//
// Determinism: every output element is reduced by one thread in an order fixed by the shape
// alone. In the GEMM the K dimension is cut into blocks whose size depends only on K; each
// block's partial product is accumulated in k order inside the micro-kernel and added into C
// block after block, in K order. Threads split only M and N, so results are bit-identical for
// any thread count and from run to run (given the same instruction set).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../common/error.h"
#include "gemm_internal.h"
#include "kernels.h"
#include "parallel.h"

namespace dendrite::cpu {
namespace detail {
namespace {

// ---- portable kernels ----

// 4 x 8 tile: a simple j loop per row that compilers turn into 2 SSE / NEON vectors per row
// (8 accumulator registers).
constexpr int kScalarMr = 4;
constexpr int kScalarNr = 8;

void scalar_micro(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, int rows, int cols,
                  float alpha, float beta) {
  float acc0[kScalarNr] = {}, acc1[kScalarNr] = {}, acc2[kScalarNr] = {}, acc3[kScalarNr] = {};
  for (int64_t p = 0; p < kc; ++p) {
    const float* b = bp + p * kScalarNr;
    const float a0 = ap[p * kScalarMr], a1 = ap[p * kScalarMr + 1], a2 = ap[p * kScalarMr + 2],
                a3 = ap[p * kScalarMr + 3];
    for (int j = 0; j < kScalarNr; ++j) {
      acc0[j] += a0 * b[j];
      acc1[j] += a1 * b[j];
      acc2[j] += a2 * b[j];
      acc3[j] += a3 * b[j];
    }
  }
  const float* acc[kScalarMr] = {acc0, acc1, acc2, acc3};
  for (int r = 0; r < rows; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < cols; ++j) cr[j] = beta == 0.0f ? alpha * acc[r][j] : alpha * acc[r][j] + beta * cr[j];
  }
}

void scalar_gemv_rows(int64_t r0, int64_t r1, int64_t cols, float alpha, const float* a, int64_t lda, const float* x,
                      float beta, float* y) {
  for (int64_t i = r0; i < r1; ++i) {
    const float* ai = a + i * lda;
    // Four interleaved partial sums (a fixed order) let the compiler vectorise.
    float s[4] = {0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 4 <= cols; j += 4)
      for (int l = 0; l < 4; ++l) s[l] += ai[j + l] * x[j + l];
    for (; j < cols; ++j) s[0] += ai[j] * x[j];
    const float sum = (s[0] + s[1]) + (s[2] + s[3]);
    y[i] = beta == 0.0f ? alpha * sum : alpha * sum + beta * y[i];
  }
}

void scalar_gemv_cols(int64_t rows, int64_t c0, int64_t c1, float alpha, const float* a, int64_t lda, const float* x,
                      float beta, float* y) {
  for (int64_t j0 = c0; j0 < c1; j0 += kGemvColBlock) {
    const int64_t w = std::min(kGemvColBlock, c1 - j0);
    float acc[kGemvColBlock] = {};
    for (int64_t i = 0; i < rows; ++i) {
      const float xi = x[i];
      const float* ai = a + i * lda + j0;
      for (int64_t j = 0; j < w; ++j) acc[j] += ai[j] * xi;
    }
    for (int64_t j = 0; j < w; ++j) y[j0 + j] = beta == 0.0f ? alpha * acc[j] : alpha * acc[j] + beta * y[j0 + j];
  }
}

void scalar_ger_rows(int64_t r0, int64_t r1, int64_t cols, float alpha, const float* x, const float* y, float* a,
                     int64_t lda) {
  for (int64_t i = r0; i < r1; ++i) {
    const float s = alpha * x[i];
    float* ai = a + i * lda;
    for (int64_t j = 0; j < cols; ++j) ai[j] += s * y[j];
  }
}

}  // namespace

const IsaOps& scalar_ops() {
  static const IsaOps ops{"scalar", kScalarMr, kScalarNr, scalar_micro, scalar_gemv_rows, scalar_gemv_cols,
                          scalar_ger_rows, nullptr, nullptr, nullptr};
  return ops;
}

}  // namespace detail

namespace {

using detail::IsaOps;

const IsaOps& select_ops() {
#if defined(__x86_64__)
  switch (active_isa()) {
    case Isa::Avx512: return detail::avx512_ops();
    case Isa::Avx2: return detail::avx2_ops();
    case Isa::Scalar: break;
  }
#endif
  return detail::scalar_ops();
}

// Threads worth using for `work` multiply-adds: about 2^20 per thread (~10 us) repays the
// cost of starting a parallel region.
int threads_for(int threads, double work) {
  const double useful = work / double(1 << 20);
  if (useful < 2.0) return 1;
  return static_cast<int>(std::max(1.0, std::min(static_cast<double>(threads), useful)));
}

// The same for memory-bound vector kernels (GEMV, GER), counted in matrix elements: each
// thread streams its own share of the matrix, so smaller shares still pay.
int threads_for_vec(int threads, double elements) {
  const double useful = elements / double(1 << 16);
  if (useful < 2.0) return 1;
  return static_cast<int>(std::max(1.0, std::min(static_cast<double>(threads), useful)));
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// A grow-only 64-byte-aligned scratch buffer, one per calling thread, so that repeated calls
// do not pay for fresh pages.
class Scratch {
 public:
  ~Scratch() { std::free(data_); }
  float* get(size_t count) {
    if (count > size_) {
      std::free(data_);
      data_ = nullptr;
      size_ = 0;
      const size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (data_ == nullptr) fail(ErrorKind::OutOfMemory, "gemm: cannot allocate " + std::to_string(bytes) + " bytes");
      size_ = count;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t size_ = 0;
};

thread_local Scratch tl_scratch;
thread_local Scratch tl_vec_scratch;

// ---- packing ----

// Packs rows [i0, i0 + h) x cols [p0, p0 + kc) of op(A) into ap[p * mr + r], zero rows beyond h.
void pack_a(const IsaOps& ops, const GemmShape& g, const float* a, int64_t i0, int64_t h, int64_t p0, int64_t kc,
            float* ap) {
  const int mr = ops.mr;
  if (!g.trans_a && ops.pack_a_transposed != nullptr) {
    ops.pack_a_transposed(a + i0 * g.lda + p0, g.lda, h, kc, ap);
  } else if (!g.trans_a) {
    // op(A)[i, p] = a[i * lda + p]: a transpose; read mr rows together so writes stay contiguous.
    const float* rows[32];
    for (int r = 0; r < mr; ++r) rows[r] = r < h ? a + (i0 + r) * g.lda + p0 : nullptr;
    for (int64_t p = 0; p < kc; ++p) {
      float* dst = ap + p * mr;
      for (int r = 0; r < mr; ++r) dst[r] = r < h ? rows[r][p] : 0.0f;
    }
  } else {
    // op(A)[i, p] = a[p * lda + i]: contiguous runs of h.
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = a + (p0 + p) * g.lda + i0;
      float* dst = ap + p * mr;
      int r = 0;
      for (; r < h; ++r) dst[r] = src[r];
      for (; r < mr; ++r) dst[r] = 0.0f;
    }
  }
}

// Packs rows [p0, p0 + kc) x cols [j0, j0 + w) of op(B) into bp[p * nr + c], zero cols beyond w.
void pack_b(const IsaOps& ops, const GemmShape& g, const float* b, int64_t p0, int64_t kc, int64_t j0, int64_t w,
            float* bp) {
  const int nr = ops.nr;
  if (g.trans_b && ops.pack_b_transposed != nullptr) {
    ops.pack_b_transposed(b + j0 * g.ldb + p0, g.ldb, w, kc, bp);
  } else if (!g.trans_b && ops.pack_b_rows != nullptr) {
    ops.pack_b_rows(b + p0 * g.ldb + j0, g.ldb, w, kc, bp);
  } else if (!g.trans_b) {
    // op(B)[p, j] = b[p * ldb + j]: contiguous runs of w.
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = b + (p0 + p) * g.ldb + j0;
      float* dst = bp + p * nr;
      int64_t c = 0;
      for (; c < w; ++c) dst[c] = src[c];
      for (; c < nr; ++c) dst[c] = 0.0f;
    }
  } else {
    // op(B)[p, j] = b[j * ldb + p]: a transpose, one source row per destination column.
    for (int64_t c = 0; c < nr; ++c) {
      if (c < w) {
        const float* src = b + (j0 + c) * g.ldb + p0;
        for (int64_t p = 0; p < kc; ++p) bp[p * nr + c] = src[p];
      } else {
        for (int64_t p = 0; p < kc; ++p) bp[p * nr + c] = 0.0f;
      }
    }
  }
}

// ---- blocking ----

// Cache blocking (measured on Zen 5: 48 KiB L1d, 1 MiB L2 per core, 32 MiB L3; results within
// noise for kc 256..384, nc 480..960). The kc x nc B block, 737 KiB, stays in each core's L2.
constexpr int64_t kKc = 320;   // K block: an A micro-panel (mr x kc, 10 KiB) stays in L1
constexpr int64_t kMc = 3072;  // M block: the packed A block (mc x kc) stays in L3
constexpr int64_t kNc = 576;   // N block: a packed B block per thread, in that core's L2

// The packed GEMM. Loop nest (BLIS names): ic over M blocks -> pc over K blocks -> pack the A
// block (shared by all threads) -> tasks over N blocks (and, when those are too few, over
// groups of A micro-panels): pack the B block into the thread's own buffer -> ir over A
// micro-panels (kept in L1) -> jr over B micro-panels (streamed from L2) -> micro-kernel.
// Both the packing of A and the tasks are chunks (parallel_chunks): the calling thread never
// waits for a pool thread to wake up, so small products gain from a second thread too.
// B is read from `b` as g says, or, when `panels` is given, packed by it (implicit GEMM).
void gemm_packed(const IsaOps& ops, const GemmShape& g, const float* a, const float* b, const BPanels* panels,
                 float* c, int threads) {
  const int64_t m = g.m, n = g.n, k = g.k;
  const int64_t mr = ops.mr, nr = ops.nr;
  // Balanced blocks: sizes depend only on the shape, so the K order is the same for any thread count.
  const int64_t kblocks = ceil_div(k, kKc);
  const int64_t kc_max = ceil_div(k, kblocks);
  const int64_t mblocks = ceil_div(m, kMc);
  const int64_t mc_max = round_up(ceil_div(m, mblocks), mr);
  const int64_t npanels = ceil_div(n, nr);

  const int t = threads_for(threads, double(m) * double(n) * double(k));
  // N blocks of at most about kNc columns, a multiple of the thread count when there are
  // enough panels (equal shares for static load).
  const int64_t nblocks = std::min(npanels, round_up(ceil_div(npanels * nr, kNc), t));
  // With fewer N blocks than threads, also split each A block into groups of micro-panels.
  const int64_t mpanels_max = mc_max / mr;
  const int64_t mgroups = std::min(mpanels_max, ceil_div(t, nblocks));
  const int64_t nb_panels_max = ceil_div(npanels, nblocks);

  // One allocation: the shared A block, then one B block per thread.
  const size_t a_size = static_cast<size_t>(mc_max * kc_max);
  const size_t b_size = static_cast<size_t>(nb_panels_max * nr * kc_max);
  float* buf = tl_scratch.get(a_size + b_size * static_cast<size_t>(t) + 16);
  float* apack = buf;
  float* bpacks = buf + round_up(static_cast<int64_t>(a_size), 16);

  // The B block each slot packed last: consecutive tasks of one N block reuse it.
  std::vector<int64_t> packed(static_cast<size_t>(t));
  for (int64_t ic = 0; ic < m; ic += mc_max) {
    const int64_t mc = std::min(mc_max, m - ic);
    const int64_t mpanels = ceil_div(mc, mr);
    for (int64_t pc = 0; pc < k; pc += kc_max) {
      const int64_t kc = std::min(kc_max, k - pc);
      // Later K blocks add to what the earlier ones wrote.
      const float beta = pc == 0 ? g.beta : 1.0f;
      parallel_chunks(t, mpanels, ceil_div(mpanels, 4 * t), [&](int64_t ip0, int64_t ip1, int) {
        for (int64_t ip = ip0; ip < ip1; ++ip) {
          const int64_t i0 = ic + ip * mr;
          pack_a(ops, g, a, i0, std::min(mr, m - i0), pc, kc, apack + ip * mr * kc);
        }
      });
      std::fill(packed.begin(), packed.end(), -1);
      parallel_chunks(t, nblocks * mgroups, 1, [&](int64_t task0, int64_t task1, int slot) {
        float* bpack = bpacks + b_size * static_cast<size_t>(slot);
        for (int64_t task = task0; task < task1; ++task) {
          const int64_t nbk = task / mgroups, mg = task % mgroups;
          const int64_t jp0 = nbk * npanels / nblocks, jp1 = (nbk + 1) * npanels / nblocks;
          const int64_t ip0 = mg * mpanels / mgroups, ip1 = (mg + 1) * mpanels / mgroups;
          if (packed[slot] != nbk) {
            for (int64_t jp = jp0; jp < jp1; ++jp) {
              const int64_t j0 = jp * nr;
              float* bp = bpack + (jp - jp0) * nr * kc;
              if (panels != nullptr) panels->pack(panels->ctx, pc, kc, j0, std::min(nr, n - j0), nr, bp);
              else pack_b(ops, g, b, pc, kc, j0, std::min(nr, n - j0), bp);
            }
            packed[slot] = nbk;
          }
          for (int64_t ip = ip0; ip < ip1; ++ip) {
            const int64_t i0 = ic + ip * mr;
            const int rows = static_cast<int>(std::min(mr, m - i0));
            const float* ap = apack + ip * mr * kc;
            for (int64_t jp = jp0; jp < jp1; ++jp) {
              const int64_t j0 = jp * nr;
              ops.micro(kc, ap, bpack + (jp - jp0) * nr * kc, c + i0 * g.ldc + j0, g.ldc, rows,
                        static_cast<int>(std::min(nr, n - j0)), g.alpha, beta);
            }
          }
        }
      });
    }
  }
}

// Chunks of the vector kernels: about four per thread, so that a thread that joins late still
// takes some; rows in multiples of 8 and columns of kGemvColBlock (the same arithmetic per row
// or column for any cut).
int64_t vec_chunk(int64_t total, int threads, int64_t multiple) {
  return round_up(ceil_div(total, 4 * int64_t{threads}), multiple);
}

void gemv_impl(const IsaOps& ops, bool trans, int64_t rows, int64_t cols, float alpha, const float* a, int64_t lda,
               const float* x, float beta, float* y, int threads) {
  const int t = threads_for_vec(threads, double(rows) * double(cols));
  if (!trans) {
    parallel_chunks(t, rows, vec_chunk(rows, t, 8), [&](int64_t r0, int64_t r1, int) {
      ops.gemv_rows(r0, r1, cols, alpha, a, lda, x, beta, y);
    });
  } else {
    parallel_chunks(t, cols, vec_chunk(cols, t, detail::kGemvColBlock), [&](int64_t c0, int64_t c1, int) {
      ops.gemv_cols(rows, c0, c1, alpha, a, lda, x, beta, y);
    });
  }
}

// A contiguous copy of a strided vector (or the vector itself when already contiguous).
const float* contiguous(const float* v, int64_t n, int64_t stride, float* tmp) {
  if (stride == 1) return v;
  for (int64_t i = 0; i < n; ++i) tmp[i] = v[i * stride];
  return tmp;
}

}  // namespace

int64_t gemm_k_block(int64_t k) {
  if (k <= 0) return 1;
  return ceil_div(k, ceil_div(k, kKc));
}

void gemm(const GemmShape& g, const float* a, const float* b, float* c, int threads) {
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {
    // C = beta * C (an empty product); with beta == 0, C is not read.
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) c[i * g.ldc + j] = g.beta == 0.0f ? 0.0f : g.beta * c[i * g.ldc + j];
    return;
  }
  const IsaOps& ops = select_ops();
  if (g.m == 1 || g.n == 1) {
    // Matrix-vector products: packing would cost as much as the arithmetic.
    float* tmp = tl_vec_scratch.get(static_cast<size_t>(g.k + std::max(g.m, g.n)));
    if (g.m == 1) {
      // c[0, :] = alpha * op(B)^T a[0, :] + beta * c[0, :]
      const float* x = contiguous(a, g.k, g.trans_a ? g.lda : 1, tmp);
      if (!g.trans_b) gemv_impl(ops, true, g.k, g.n, g.alpha, b, g.ldb, x, g.beta, c, threads);
      else gemv_impl(ops, false, g.n, g.k, g.alpha, b, g.ldb, x, g.beta, c, threads);
    } else {
      // c[:, 0] = alpha * op(A) b[:, 0] + beta * c[:, 0]
      const float* x = contiguous(b, g.k, g.trans_b ? 1 : g.ldb, tmp);
      float* y = c;
      if (g.ldc != 1) {
        y = tmp + g.k;
        if (g.beta != 0.0f)
          for (int64_t i = 0; i < g.m; ++i) y[i] = c[i * g.ldc];
      }
      if (!g.trans_a) gemv_impl(ops, false, g.m, g.k, g.alpha, a, g.lda, x, g.beta, y, threads);
      else gemv_impl(ops, true, g.k, g.m, g.alpha, a, g.lda, x, g.beta, y, threads);
      if (y != c)
        for (int64_t i = 0; i < g.m; ++i) c[i * g.ldc] = y[i];
    }
    return;
  }
  gemm_packed(ops, g, a, b, nullptr, c, threads);
}

void gemm_implicit_b(const GemmShape& g, const float* a, const BPanels& b, float* c, int threads) {
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {
    gemm(g, a, nullptr, c, threads);  // C = beta * C
    return;
  }
  gemm_packed(select_ops(), g, a, nullptr, &b, c, threads);
}

void gemv(bool trans, int64_t rows, int64_t cols, float alpha, const float* a, const float* x, float beta, float* y,
          int threads) {
  if (rows <= 0 && cols <= 0) return;
  gemv_impl(select_ops(), trans, rows, cols, alpha, a, cols, x, beta, y, threads);
}

void ger(int64_t rows, int64_t cols, float alpha, const float* x, const float* y, float* a, int threads) {
  if (rows <= 0 || cols <= 0) return;
  const IsaOps& ops = select_ops();
  const int t = threads_for_vec(threads, double(rows) * double(cols));
  parallel_chunks(t, rows, vec_chunk(rows, t, 8), [&](int64_t r0, int64_t r1, int) {
    ops.ger_rows(r0, r1, cols, alpha, x, y, a, cols);
  });
}

}  // namespace dendrite::cpu

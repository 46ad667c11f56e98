// 2-D convolution (GEMM on im2col matrices, explicit or implicit) and 2x2 max-pooling on the
// CPU, NCHW.
//
// Convolution works on groups of G consecutive images (G depends on the shape only). The
// im2col matrices of a group sit side by side: col = [K x G*P] (K = in_channels * kernel_h *
// kernel_w, P = out_h * out_w, image j in columns j*P .. j*P+P), so that
//   forward   Y_g  = W[OC x K] * col                     (one GEMM per group, then scattered to NCHW + bias)
//   backward  dW   = sum_g dY_g[OC x G*P] * col_g^T,    dcol = W^T * dY_g,  dx_n = col2im(dcol block)
//             db   = sum_n sum_p dy_n[:, p]
// where dY_g gathers the group's output gradients as [OC x G*P]. Larger GEMMs than one per
// image run closer to the kernel's peak. Stride-1 convolutions never store col: with AVX-512,
// direct kernels over zero-bordered copies of the images compute y (conv_fwd_vectors, with
// the GEMM's bits), dW (conv_dw_block) and, for square kernels, dx (the forward kernel on dy
// with the flipped kernel); without it the forward GEMM packs its B panels straight from the
// padded images (ImplicitCols). The GEMMs go through cpu::gemm, whose result does not depend on its thread count
// (nor, for a given K, on N). Groups are processed in parallel (GEMMs single-threaded) when
// there are enough of them, else one after the other with multi-threaded GEMMs; both give
// identical results. dW is the sum of one partial per group, added in group order (or, direct,
// summed per block in image order), so it does not depend on the thread count either. Scratch
// memory is kept per calling thread and reused, so steady-state calls allocate nothing.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>


#include "kernels.h"
#include "parallel.h"
#include "simd.h"

namespace dendrite::cpu {
namespace {

// A group's im2col matrix is kept below this many floats (2 MiB), with GEMMs at least
// kGroupColumns wide when the images allow.
constexpr int64_t kGroupFloats = 1 << 19;
constexpr int64_t kGroupColumns = 2048;

struct Geometry {
  int64_t c, h, w, kh, kw, stride, pad, oh, ow;
  int64_t k() const { return c * kh * kw; }
  int64_t p() const { return oh * ow; }
  // A 1x1 stride-1 unpadded convolution: im2col is the identity.
  bool identity_cols() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }
};

Geometry geometry(const Conv2dShape& s) {
  return {s.in_channels, s.in_h, s.in_w, s.kernel_h, s.kernel_w, s.stride, s.pad, s.out_h(), s.out_w()};
}

// Floats of the zero-bordered plane im2col uses (after the col matrix in the same buffer).
int64_t padded_floats(const Geometry& g) { return (g.h + 2 * g.pad) * (g.w + 2 * g.pad); }

// Images per group: a function of the shape only (dW's summation order depends on it).
int64_t group_size(const Geometry& g, int64_t batch) {
  if (g.identity_cols()) return 1;  // the images themselves serve as col
  const int64_t kp = std::max<int64_t>(1, g.k() * g.p());
  int64_t n = (kGroupColumns + g.p() - 1) / std::max<int64_t>(1, g.p());
  n = std::max<int64_t>(1, std::min({n, kGroupFloats / kp, batch}));
  // Prefer an even number of groups (down to half the size) so that two threads share them evenly.
  for (int64_t m = n; m > 1 && 2 * m >= n; --m) {
    const int64_t groups = (batch + m - 1) / m;
    if (groups % 2 == 0) return m;
  }
  return n;
}

// Output columns [lo, hi) whose input column ow * stride - pad + j lies inside [0, w).
inline void valid_range(int64_t j, const Geometry& g, int64_t extent_in, int64_t extent_out, int64_t& lo,
                        int64_t& hi) {
  // smallest o with o * stride >= pad - j, largest o with o * stride <= extent_in - 1 + pad - j
  const int64_t a = g.pad - j;
  lo = a <= 0 ? 0 : (a + g.stride - 1) / g.stride;
  const int64_t b = extent_in - 1 + g.pad - j;
  hi = b < 0 ? 0 : std::min(extent_out, b / g.stride + 1);
  if (lo > hi) lo = hi;
}

// Strided row copies and additions of im2col / col2im (stride 1): dst row r gets (or adds) the
// n floats of src row r. Rows are short (out_w values): one masked AVX-512 operation each.
using RowOp = void (*)(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows, int64_t n);

void copy_rows_plain(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < n; ++v) dst[r * dst_stride + v] = src[r * src_stride + v];
}

void add_rows_plain(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < n; ++v) dst[r * dst_stride + v] += src[r * src_stride + v];
}

#if DENDRITE_X86
__attribute__((target("avx512f"))) void copy_rows_avx512(const float* src, int64_t src_stride, float* dst,
                                                          int64_t dst_stride, int64_t rows, int64_t n) {
  for (int64_t v = 0; v < n; v += 16) {
    const int64_t left = n - v;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
    for (int64_t r = 0; r < rows; ++r)
      _mm512_mask_storeu_ps(dst + r * dst_stride + v, m, _mm512_maskz_loadu_ps(m, src + r * src_stride + v));
  }
}

__attribute__((target("avx512f"))) void add_rows_avx512(const float* src, int64_t src_stride, float* dst,
                                                         int64_t dst_stride, int64_t rows, int64_t n) {
  for (int64_t v = 0; v < n; v += 16) {
    const int64_t left = n - v;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
    for (int64_t r = 0; r < rows; ++r) {
      float* d = dst + r * dst_stride + v;
      _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), _mm512_maskz_loadu_ps(m, src + r * src_stride + v)));
    }
  }
}
#endif

RowOp copy_rows() {
#if DENDRITE_X86
  if (active_isa() == Isa::Avx512) return copy_rows_avx512;
#endif
  return copy_rows_plain;
}

RowOp add_rows() {
#if DENDRITE_X86
  if (active_isa() == Isa::Avx512) return add_rows_avx512;
#endif
  return add_rows_plain;
}

// col[(c * kh + i) * kw + j][oy * ow + ox] (row stride ld) = x[c][oy * stride - pad + i][ox * stride - pad + j]
// (0 outside). Rows are short (ow values), so plain loops beat memcpy calls. With stride 1 each
// channel is first copied into a zero-bordered plane (`padded`, (h + 2 pad) * (w + 2 pad)
// floats), after which every row is a plain copy without bounds checks.
void im2col(const Geometry& g, const float* x, float* col, int64_t ld, float* padded) {
  if (g.stride == 1) {
    const int64_t hp = g.h + 2 * g.pad, wp = g.w + 2 * g.pad;
    const RowOp copy = copy_rows();
    std::fill(padded, padded + hp * wp, 0.0f);
    for (int64_t c = 0; c < g.c; ++c) {
      copy(x + c * g.h * g.w, g.w, padded + g.pad * wp + g.pad, wp, g.h, g.w);
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) copy(padded + i * wp + j, wp, col + ((c * g.kh + i) * g.kw + j) * ld, g.ow, g.oh, g.ow);
    }
    return;
  }
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        float* row = col + ((c * g.kh + i) * g.kw + j) * ld;
        int64_t lo, hi;
        valid_range(j, g, g.w, g.ow, lo, hi);
        const int64_t shift = j - g.pad;  // input column of ox is ox * stride + shift
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          float* out = row + oy * g.ow;
          const int64_t iy = oy * g.stride - g.pad + i;
          if (iy < 0 || iy >= g.h) {
            for (int64_t ox = 0; ox < g.ow; ++ox) out[ox] = 0.0f;
            continue;
          }
          const float* in = x + (c * g.h + iy) * g.w;
          for (int64_t ox = 0; ox < lo; ++ox) out[ox] = 0.0f;
          if (g.stride == 1) {
            const float* src = in + shift;
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] = src[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] = in[ox * g.stride + shift];
          }
          for (int64_t ox = hi; ox < g.ow; ++ox) out[ox] = 0.0f;
        }
      }
}

// dx = col2im(dcol) (dcol rows of stride ld): each dcol entry is added to the input pixel it was
// copied from, in a fixed order (c, i, j, oy, ox). dx is overwritten. With stride 1 the sums
// build up in a zero-bordered plane (`padded`, as in im2col) without bounds checks, and the
// interior is copied out; entries that fall on the border are discarded, never added to dx.
void col2im(const Geometry& g, const float* dcol, int64_t ld, float* dx, float* padded) {
  if (g.stride == 1) {
    const int64_t hp = g.h + 2 * g.pad, wp = g.w + 2 * g.pad;
    const RowOp copy = copy_rows(), add = add_rows();
    for (int64_t c = 0; c < g.c; ++c) {
      std::fill(padded, padded + hp * wp, 0.0f);
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) add(dcol + ((c * g.kh + i) * g.kw + j) * ld, g.ow, padded + i * wp + j, wp, g.oh, g.ow);
      copy(padded + g.pad * wp + g.pad, wp, dx + c * g.h * g.w, g.w, g.h, g.w);
    }
    return;
  }
  std::fill(dx, dx + g.c * g.h * g.w, 0.0f);
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const float* row = dcol + ((c * g.kh + i) * g.kw + j) * ld;
        int64_t lo, hi;
        valid_range(j, g, g.w, g.ow, lo, hi);
        const int64_t shift = j - g.pad;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.stride - g.pad + i;
          if (iy < 0 || iy >= g.h) continue;
          float* out = dx + (c * g.h + iy) * g.w;
          const float* in = row + oy * g.ow;
          if (g.stride == 1) {
            float* dst = out + shift;
            for (int64_t ox = lo; ox < hi; ++ox) dst[ox] += in[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) out[ox * g.stride + shift] += in[ox];
          }
        }
      }
}

// ---- implicit im2col (stride 1) ----
//
// For stride-1 convolutions the col matrix is never stored: the GEMM packs its B panels straight
// from zero-bordered copies of the group's images. col[(ci * kh + i) * kw + j][n], with
// n = img * oh * ow + oy * ow + ox, is padded[img][ci][oy + i][ox + j].
struct ImplicitCols {
  const float* padded;  // images of channels planes of hp x wp
  int64_t channels, hp, wp, oh, ow;
  const int64_t* tap_offset;  // per col row (ci, i, j): ci * hp * wp + i * wp + j
};

// tap_offset of ImplicitCols for a kernel of channels x kh x kw over planes hp x wp.
void tap_offsets(int64_t channels, int64_t kh, int64_t kw, int64_t hp, int64_t wp, int64_t* out) {
  for (int64_t ci = 0; ci < channels; ++ci)
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) *out++ = (ci * hp + i) * wp + j;
}

// Copies images x[cnt][channels][h][w] into zero-bordered planes of (h + 2 pad_h) x (w + 2 pad_w).
void pad_images(const float* x, int64_t cnt, int64_t channels, int64_t h, int64_t w, int64_t pad_h, int64_t pad_w,
                float* out) {
  const int64_t hp = h + 2 * pad_h, wp = w + 2 * pad_w;
  for (int64_t pl = 0; pl < cnt * channels; ++pl) {
    float* dst = out + pl * hp * wp;
    const float* src = x + pl * h * w;
    std::fill(dst, dst + pad_h * wp, 0.0f);
    for (int64_t y = 0; y < h; ++y) {
      float* row = dst + (pad_h + y) * wp;
      for (int64_t v = 0; v < pad_w; ++v) row[v] = 0.0f;
      for (int64_t v = 0; v < w; ++v) row[pad_w + v] = src[y * w + v];
      for (int64_t v = pad_w + w; v < wp; ++v) row[v] = 0.0f;
    }
    std::fill(dst + (pad_h + h) * wp, dst + hp * wp, 0.0f);
  }
}

// Splits panel columns [c0, c1) (GEMM columns j0 + c) into runs within one output row: run u
// covers columns [c[u], c[u] + len[u]) and reads len[u] consecutive pixels from src[u] onwards
// (relative to the kernel tap's offset). Returns the number of runs (at most c1 - c0).
int64_t column_runs(const ImplicitCols& s, int64_t j0, int64_t c0, int64_t c1, int64_t* c, int64_t* len,
                    int64_t* src) {
  const int64_t p = s.oh * s.ow;
  int64_t runs = 0;
  for (int64_t col = c0; col < c1; ++runs) {
    const int64_t n = j0 + col, img = n / p, q = n % p, oy = q / s.ow, ox = q % s.ow;
    c[runs] = col;
    len[runs] = std::min(s.ow - ox, c1 - col);
    src[runs] = (img * s.channels * s.hp + oy) * s.wp + ox;
    col += len[runs];
  }
  return runs;
}

constexpr int64_t kMaxRuns = 64;  // columns (so runs) handled at a time

// BPanels::pack for ImplicitCols: consecutive columns within one output row read consecutive
// pixels, so each panel row is a few short copies. (Used without AVX-512 only: with it the
// direct kernel conv_fwd_vectors replaces the implicit GEMM.)
void pack_implicit(const void* ctx, int64_t p0, int64_t kc, int64_t j0, int64_t w, int64_t nr, float* bp) {
  const ImplicitCols& s = *static_cast<const ImplicitCols*>(ctx);
  int64_t run_c[kMaxRuns], run_len[kMaxRuns], run_src[kMaxRuns];
  for (int64_t c0 = 0; c0 < w; c0 += kMaxRuns) {
    const int64_t runs = column_runs(s, j0, c0, std::min(w, c0 + kMaxRuns), run_c, run_len, run_src);
    for (int64_t r = 0; r < kc; ++r) {
      const float* src = s.padded + s.tap_offset[p0 + r];
      float* dst = bp + r * nr;
      for (int64_t u = 0; u < runs; ++u) {
        const float* a = src + run_src[u];
        float* b = dst + run_c[u];
        for (int64_t v = 0; v < run_len[u]; ++v) b[v] = a[v];
      }
    }
  }
  for (int64_t r = 0; r < kc; ++r)
    for (int64_t c = w; c < nr; ++c) bp[r * nr + c] = 0.0f;
}


#if DENDRITE_X86
// dW of a stride-1 convolution without a col matrix (AVX-512):
//   dw[o][t] = sum_n sum_oy sum_ox dy[n][o][oy][ox] * padded[n][ci][oy + i][ox + j],  t = (ci, i, j).
// A block of kDwO output channels x kDwT taps keeps its 24 accumulators in registers (16 lanes
// each: ox, ox + 16, ... of every output row go to lanes 0..15) while it streams images
// [n0, n1); between such chunks (sized so that a chunk stays in L2) the lanes rest in `acc`
// (kDwO * kDwT * 16 floats per block). Every block adds its images in the same order whichever
// thread runs it, and the lanes are summed at the end in a fixed order, so the result does not
// depend on the thread count. Output channels and taps beyond the last repeat the last one (the
// duplicates are computed and dropped). `padded` holds the zero-bordered images (ImplicitCols).
constexpr int kDwO = 4, kDwT = 6, kDwAcc = kDwO * kDwT * 16;
// Zeroed floats after the padded images of the direct kernels: whole-vector input reads that
// run past a row's end stay inside the buffer.
constexpr int64_t kSlack = 16;
// Full unrolling keeps the accumulator array in registers.
#define DENDRITE_UNROLL _Pragma("GCC unroll 8")

__attribute__((target("avx512f"))) void conv_dw_block(const ImplicitCols& s, const float* dy, int64_t oc, int64_t k,
                                                       int64_t o0, int64_t t0, int64_t n0, int64_t n1, float* acc_mem) {
  const int64_t p = s.oh * s.ow, image = s.channels * s.hp * s.wp;
  const float* dy_end = dy + n1 * oc * p;
  int64_t dy_off[kDwO], x_off[kDwT];
  DENDRITE_UNROLL for (int o = 0; o < kDwO; ++o) dy_off[o] = std::min(o0 + o, oc - 1) * p;
  DENDRITE_UNROLL for (int t = 0; t < kDwT; ++t) x_off[t] = s.tap_offset[std::min(t0 + t, k - 1)];
  __m512 acc[kDwO][kDwT];
  DENDRITE_UNROLL for (int o = 0; o < kDwO; ++o)
    DENDRITE_UNROLL for (int t = 0; t < kDwT; ++t) acc[o][t] = _mm512_loadu_ps(acc_mem + (o * kDwT + t) * 16);
  const int64_t oh = s.oh, ow = s.ow, wp = s.wp;
  const __mmask16 tail_mask = static_cast<__mmask16>((1u << (ow % 16)) - 1);
  const __m512i keep = _mm512_maskz_set1_epi32(tail_mask, -1);
  for (int64_t n = n0; n < n1; ++n) {
    // Row pointers, advanced one output row at a time.
    const float* d_row[kDwO];
    const float* x_row[kDwT];
    DENDRITE_UNROLL for (int o = 0; o < kDwO; ++o) d_row[o] = dy + n * oc * p + dy_off[o];
    DENDRITE_UNROLL for (int t = 0; t < kDwT; ++t) x_row[t] = s.padded + n * image + x_off[t];
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ox += 16) {
        const __mmask16 m = ox + 16 <= ow ? static_cast<__mmask16>(0xFFFF) : tail_mask;
        // Masked loads are slow (Zen 5): only the last rows of dy (where a whole vector would
        // read past the array) load masked; elsewhere dy is loaded whole and its lanes past
        // the row's end zeroed in registers. Those zeros cancel the x lanes past the row (the
        // next row's values or the kSlack zeros, finite for finite x), so x is not masked.
        __m512 d[kDwO];
        if (m == 0xFFFF) {
          DENDRITE_UNROLL for (int o = 0; o < kDwO; ++o) d[o] = _mm512_loadu_ps(d_row[o] + ox);
        } else if (d_row[kDwO - 1] + ox + 16 <= dy_end) {
          // An AND with a lane mask, not maskz_mov, which GCC folds back into a masked load.
          DENDRITE_UNROLL for (int o = 0; o < kDwO; ++o) {
            d[o] = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(_mm512_loadu_ps(d_row[o] + ox)), keep));
          }
        } else {
          DENDRITE_UNROLL for (int o = 0; o < kDwO; ++o) d[o] = _mm512_maskz_loadu_ps(m, d_row[o] + ox);
        }
        DENDRITE_UNROLL for (int t = 0; t < kDwT; ++t) {
          const __m512 v = _mm512_loadu_ps(x_row[t] + ox);
          DENDRITE_UNROLL for (int o = 0; o < kDwO; ++o) acc[o][t] = _mm512_fmadd_ps(d[o], v, acc[o][t]);
        }
      }
      DENDRITE_UNROLL for (int o = 0; o < kDwO; ++o) d_row[o] += ow;
      DENDRITE_UNROLL for (int t = 0; t < kDwT; ++t) x_row[t] += wp;
    }
  }
  DENDRITE_UNROLL for (int o = 0; o < kDwO; ++o)
    DENDRITE_UNROLL for (int t = 0; t < kDwT; ++t) _mm512_storeu_ps(acc_mem + (o * kDwT + t) * 16, acc[o][t]);
}

// dw[o][t] from the lanes of every block (conv_dw_block), each summed in a fixed order.
__attribute__((target("avx512f"))) void conv_dw_finish(const float* acc_mem, int64_t oc, int64_t k, float* dw) {
  const int64_t tb = (k + kDwT - 1) / kDwT;
  for (int64_t o = 0; o < oc; ++o)
    for (int64_t t = 0; t < k; ++t) {
      const float* lanes = acc_mem + ((o / kDwO) * tb + t / kDwT) * kDwAcc + ((o % kDwO) * kDwT + t % kDwT) * 16;
      dw[o * k + t] = _mm512_reduce_add_ps(_mm512_loadu_ps(lanes));
    }
}
#endif


// Whether to run groups in parallel (single-threaded GEMMs) rather than in sequence with
// multi-threaded GEMMs. Either choice gives the same numbers.
inline bool groups_in_parallel(int64_t units, int threads) { return threads > 1 && units >= threads; }

// Scratch memory of the calling thread, grown on demand and kept for later calls. Sized before
// any parallel region (an exception must not leave one).
float* scratch(size_t n) {
  static thread_local std::vector<float> arena;
  if (arena.size() < n) {
    arena.clear();
    arena.shrink_to_fit();
    arena.resize(n);
  }
  return arena.data();
}

#if DENDRITE_X86
// The forward pass of a stride-1 convolution, direct on AVX-512: for kFwdO output channels and
// NV output vectors (16 columns of a row each, masked at the row's end), y = sum_t w[o][t]
// x[tap t] by FMA from zero in tap order, in K blocks of gemm_k_block(k) added in order, then
// + bias: the same operations in the same order as the GEMM path (its micro-kernel and K
// blocking), without packing or a scatter. Inputs are read as whole vectors (the padded images
// have slack); the lanes past a row's end compute values that the masked store drops.
constexpr int kFwdO = 8, kFwdV = 3;

template <int NV>
__attribute__((target("avx512f"))) void conv_fwd_vectors(const float* img, const int64_t* taps, const float* wt,
                                                          int64_t k, int64_t kc, const int64_t* x_off,
                                                          const int64_t* y_off, const __mmask16* m,
                                                          float* const* y_plane, const float* bias_o, int valid_o) {
  __m512 res[kFwdO][NV];
  for (int64_t t0 = 0; t0 < k; t0 += kc) {
    __m512 acc[kFwdO][NV];
    DENDRITE_UNROLL for (int o = 0; o < kFwdO; ++o)
      DENDRITE_UNROLL for (int v = 0; v < NV; ++v) acc[o][v] = _mm512_setzero_ps();
    const int64_t t1 = std::min(k, t0 + kc);
    for (int64_t t = t0; t < t1; ++t) {
      __m512 xv[NV];
      DENDRITE_UNROLL for (int v = 0; v < NV; ++v) xv[v] = _mm512_loadu_ps(img + taps[t] + x_off[v]);
      DENDRITE_UNROLL for (int o = 0; o < kFwdO; ++o) {
        const __m512 wv = _mm512_set1_ps(wt[t * kFwdO + o]);
        DENDRITE_UNROLL for (int v = 0; v < NV; ++v) acc[o][v] = _mm512_fmadd_ps(wv, xv[v], acc[o][v]);
      }
    }
    DENDRITE_UNROLL for (int o = 0; o < kFwdO; ++o)
      DENDRITE_UNROLL for (int v = 0; v < NV; ++v) res[o][v] = t0 == 0 ? acc[o][v] : _mm512_add_ps(acc[o][v], res[o][v]);
  }
  for (int o = 0; o < valid_o; ++o) {
    const __m512 b = _mm512_set1_ps(bias_o != nullptr ? bias_o[o] : 0.0f);
    DENDRITE_UNROLL for (int v = 0; v < NV; ++v) {
      const __m512 r = _mm512_add_ps(res[o][v], b);
      if (m[v] == 0xFFFF) _mm512_storeu_ps(y_plane[o] + y_off[v], r);
      else _mm512_mask_storeu_ps(y_plane[o] + y_off[v], m[v], r);
    }
  }
}

// conv2d_forward through conv_fwd_vectors: every (image, block of kFwdO output channels) is one
// task, its plane's output vectors taken kFwdV at a time.
void conv_forward_direct(const Geometry& g, int64_t batch, int64_t oc, const float* x, const float* w,
                         const float* bias, float* y, int threads) {
  const int64_t k = g.k(), hp = g.h + 2 * g.pad, wp = g.w + 2 * g.pad, image = g.c * hp * wp, p = g.p();
  const int64_t oblocks = (oc + kFwdO - 1) / kFwdO, kc = gemm_k_block(k);
  const int64_t per_row = (g.ow + 15) / 16, nvec = g.oh * per_row;
  // Scratch: tap offsets, the output vectors (input offset, output offset, mask), weights as
  // wt[block][t][o] (the last block repeats its last channel), the padded images and slack.
  float* work = scratch(static_cast<size_t>(2 * k + 5 * nvec + oblocks * k * kFwdO + batch * image + kSlack));
  int64_t* taps = reinterpret_cast<int64_t*>(work);
  int64_t* x_off = taps + k;
  int64_t* y_off = x_off + nvec;
  __mmask16* masks = reinterpret_cast<__mmask16*>(y_off + nvec);  // nvec of them fit in nvec floats
  float* wt = work + 2 * k + 5 * nvec;
  float* padded = wt + oblocks * k * kFwdO;
  tap_offsets(g.c, g.kh, g.kw, hp, wp, taps);
  for (int64_t i = 0; i < nvec; ++i) {
    const int64_t oy = i / per_row, ox = (i % per_row) * 16, left = g.ow - ox;
    x_off[i] = oy * wp + ox;
    y_off[i] = oy * g.ow + ox;
    masks[i] = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
  }
  for (int64_t b = 0; b < oblocks; ++b)
    for (int64_t t = 0; t < k; ++t)
      for (int o = 0; o < kFwdO; ++o) wt[(b * k + t) * kFwdO + o] = w[std::min(b * kFwdO + o, oc - 1) * k + t];
  std::fill(padded + batch * image, padded + batch * image + kSlack, 0.0f);
  const int64_t grab = batch >= threads ? oblocks : 1;
  parallel(threads, [&](Team& team) {
    team.for_static(0, batch, [&](int64_t n) { pad_images(x + n * g.c * g.h * g.w, 1, g.c, g.h, g.w, g.pad, g.pad, padded + n * image); });
    team.barrier();
    // Whole images handed out as threads free up (a thread slowed by another process holds up
    // nobody), single tasks when there are fewer images than threads; each task writes its own
    // outputs, so the result does not depend on it.
    team.for_dynamic(0, batch * oblocks, grab, [&](int64_t task) {
      const int64_t n = task / oblocks, b = task % oblocks, o0 = b * kFwdO;
      const int valid_o = static_cast<int>(std::min<int64_t>(kFwdO, oc - o0));
      float* y_plane[kFwdO];
      for (int o = 0; o < kFwdO; ++o) y_plane[o] = y + (n * oc + o0 + std::min(o, valid_o - 1)) * p;
      const float* img = padded + n * image;
      const float* wb = wt + b * k * kFwdO;
      const float* bo = bias != nullptr ? bias + o0 : nullptr;
      int64_t i = 0;
      for (; i + kFwdV <= nvec; i += kFwdV) {
        conv_fwd_vectors<kFwdV>(img, taps, wb, k, kc, x_off + i, y_off + i, masks + i, y_plane, bo, valid_o);
      }
      if (nvec - i == 2) conv_fwd_vectors<2>(img, taps, wb, k, kc, x_off + i, y_off + i, masks + i, y_plane, bo, valid_o);
      if (nvec - i == 1) conv_fwd_vectors<1>(img, taps, wb, k, kc, x_off + i, y_off + i, masks + i, y_plane, bo, valid_o);
    });
  });
}
#endif

// Y_g = W * col_g for the group of `cnt` images at x (col_g explicit or implicit), into out
// [OC x cnt*P]. `work` holds the col matrix or the padded images (col_floats()).
void conv_gemm(const Geometry& g, int64_t oc, const float* w, const float* x, int64_t cnt, float* out, float* work,
               int threads) {
  const int64_t k = g.k(), ld = cnt * g.p();
  const GemmShape shape = contiguous_gemm(false, false, oc, ld, k, 1.0f, 0.0f);
  if (g.identity_cols()) {
    gemm(shape, w, x, out, threads);  // the image is its own col
  } else if (g.stride == 1) {
    const int64_t hp = g.h + 2 * g.pad, wp = g.w + 2 * g.pad;
    int64_t* taps = reinterpret_cast<int64_t*>(work);
    float* padded = work + 2 * k;
    tap_offsets(g.c, g.kh, g.kw, hp, wp, taps);
    pad_images(x, cnt, g.c, g.h, g.w, g.pad, g.pad, padded);
    const ImplicitCols cols{padded, g.c, hp, wp, g.oh, g.ow, taps};
    gemm_implicit_b(shape, w, BPanels{pack_implicit, &cols}, out, threads);
  } else {
    const int64_t x_size = g.c * g.h * g.w;
    for (int64_t j = 0; j < cnt; ++j) im2col(g, x + j * x_size, work + j * g.p(), ld, work + k * ld);
    gemm(shape, w, work, out, threads);
  }
}

// Floats of conv_gemm's work buffer for a group of `cnt` images.
size_t col_floats(const Geometry& g, int64_t cnt) {
  if (g.identity_cols()) return 0;
  if (g.stride == 1) return static_cast<size_t>(2 * g.k() + cnt * g.c * padded_floats(g));  // taps, then images
  return static_cast<size_t>(g.k() * cnt * g.p() + padded_floats(g));
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y, int threads) {
  const Geometry g = geometry(s);
  const int64_t oc = s.out_channels, p = g.p(), x_size = g.c * g.h * g.w;
  if (s.batch <= 0 || oc <= 0 || p <= 0) return;
#if DENDRITE_X86
  if (g.stride == 1 && !g.identity_cols() && active_isa() == Isa::Avx512) {
    conv_forward_direct(g, s.batch, oc, x, w, bias, y, threads);
    return;
  }
#endif
  const int64_t gs = group_size(g, s.batch);
  const int64_t groups = (s.batch + gs - 1) / gs;
  const bool outer = groups_in_parallel(groups, threads);
  const int gemm_threads = outer ? 1 : threads;
  const int64_t teams = outer ? std::min<int64_t>(threads, groups) : 1;
  // Per thread: the work buffer of conv_gemm and, for groups of more than one image, the GEMM
  // output [OC x gs*P] before it is scattered to NCHW.
  const size_t col_size = col_floats(g, gs);
  const size_t out_size = gs > 1 ? static_cast<size_t>(oc * gs * p) : 0;
  float* arena = scratch((col_size + out_size) * static_cast<size_t>(teams));

  auto run = [&](int64_t grp, float* work, float* out) {
    const int64_t n0 = grp * gs, cnt = std::min(gs, s.batch - n0), ld = cnt * p;
    float* yn = y + n0 * oc * p;
    conv_gemm(g, oc, w, x + n0 * x_size, cnt, cnt == 1 ? yn : out, work, gemm_threads);
    // out[o][j * P + q] + bias[o] -> y[n0 + j][o][q]
    for (int64_t j = 0; j < cnt; ++j)
      for (int64_t o = 0; o < oc; ++o) {
        const float b = bias != nullptr ? bias[o] : 0.0f;
        const float* src = cnt == 1 ? yn + o * p : out + o * ld + j * p;
        float* dst = yn + (j * oc + o) * p;
        for (int64_t q = 0; q < p; ++q) dst[q] = src[q] + b;
      }
  };
  // Groups are handed out dynamically (a thread slowed by other work on the machine holds up
  // nobody); each group's result does not depend on which thread computes it.
  parallel(outer ? threads : 1, [&](Team& team) {
    float* base = arena + static_cast<size_t>(team.id()) * (col_size + out_size);
    team.for_dynamic(0, groups, 1, [&](int64_t grp) { run(grp, base, base + col_size); });
  });
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int threads) {
  const Geometry g = geometry(s);
  const int64_t oc = s.out_channels, k = g.k(), p = g.p(), batch = s.batch;
  const int64_t w_size = oc * k, x_size = g.c * g.h * g.w;
  if (oc <= 0 || k <= 0) return;

  // db[o] = sum_n sum_q dy[n][o][q] in double: each plane by sum_double8, planes added in n order;
  // one thread per channel.
  if (db != nullptr) {
    parallel_for(batch * oc * p >= (1 << 15) ? threads : 1, 0, oc, [&](int64_t o) {
      double acc = 0;
      for (int64_t n = 0; n < batch; ++n) acc += sum_double8(dy + (n * oc + o) * p, p);
      db[o] = static_cast<float>(acc);
    });
  }
  if (batch <= 0 || p <= 0) {
    std::fill(dw, dw + w_size, 0.0f);
    if (dx != nullptr) std::fill(dx, dx + batch * x_size, 0.0f);
    return;
  }

#if DENDRITE_X86
  // Stride 1 on AVX-512: dW straight from the padded images (conv_dw_block), no col matrix
  // (measured on Zen 5 against im2col + GEMM: twice as fast for 25 or 75 taps per output
  // channel, a quarter faster for 400).
  const bool direct_dw = g.stride == 1 && !g.identity_cols() && active_isa() == Isa::Avx512;
#else
  const bool direct_dw = false;
#endif
  if (direct_dw) {
    const int64_t hp = g.h + 2 * g.pad, wp = g.w + 2 * g.pad, image = g.c * hp * wp;
    const int64_t ob = (oc + kDwO - 1) / kDwO, tb = (k + kDwT - 1) / kDwT, blocks = ob * tb;
    float* work = scratch(static_cast<size_t>(2 * k + batch * image + kSlack + blocks * kDwAcc));
    int64_t* taps = reinterpret_cast<int64_t*>(work);
    float* padded = work + 2 * k;
    float* acc = padded + batch * image + kSlack;
    tap_offsets(g.c, g.kh, g.kw, hp, wp, taps);
    std::fill(padded + batch * image, acc + blocks * kDwAcc, 0.0f);  // slack and accumulators
    const ImplicitCols cols{padded, g.c, hp, wp, g.oh, g.ow, taps};
    // Images per chunk: their dy and padded x (about 4 (image + oc * p) bytes each) fill about
    // 256 KiB of L2. A function of the shape only.
    const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 16) / (image + oc * p));
    parallel(threads, [&](Team& team) {
      team.for_static(0, batch, [&](int64_t n) { pad_images(x + n * x_size, 1, g.c, g.h, g.w, g.pad, g.pad, padded + n * image); });
      team.barrier();
      // Static shares with equal bounds give each thread the same blocks in every chunk, so a
      // thread may run ahead into the next chunk: no barrier between chunks.
      for (int64_t n0 = 0; n0 < batch; n0 += chunk) {
        team.for_static(0, blocks, [&](int64_t b) {
          conv_dw_block(cols, dy, oc, k, (b / tb) * kDwO, (b % tb) * kDwT, n0, std::min(batch, n0 + chunk),
                        acc + b * kDwAcc);
        });
      }
    });
    conv_dw_finish(acc, oc, k, dw);
    if (dx == nullptr) return;
    // dx of a stride-1 convolution is itself one: of dy padded by kernel - 1 - pad, with the
    // kernel flipped and its channel axes swapped, wflip[ci][o][kh-1-i][kw-1-j] = w[o][ci][i][j];
    // the direct forward kernel computes it without a dcol matrix or col2im.
    if (g.kh == g.kw && g.pad < g.kh) {
      std::vector<float> wflip(static_cast<size_t>(w_size));
      for (int64_t o = 0; o < oc; ++o)
        for (int64_t ci = 0; ci < g.c; ++ci)
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j)
              wflip[static_cast<size_t>(((ci * oc + o) * g.kh + (g.kh - 1 - i)) * g.kw + (g.kw - 1 - j))] =
                  w[((o * g.c + ci) * g.kh + i) * g.kw + j];
      const Geometry gt{oc, g.oh, g.ow, g.kh, g.kw, 1, g.kh - 1 - g.pad, g.h, g.w};
      conv_forward_direct(gt, batch, g.c, dy, wflip.data(), nullptr, dx, threads);
      return;
    }
  }

  const int64_t gs = group_size(g, batch);
  const int64_t groups = (batch + gs - 1) / gs;
  const bool outer = groups_in_parallel(groups, threads);
  const int gemm_threads = outer ? 1 : threads;
  const int64_t teams = outer ? std::min<int64_t>(threads, groups) : 1;
  // Shared: one dW partial per group (when more than one group). Per thread: col, dcol (when dx
  // is wanted and im2col is not the identity) and the gathered dY of a group of several images.
  const size_t partial_size = groups > 1 && !direct_dw ? static_cast<size_t>(groups * w_size) : 0;
  // (With direct_dw, col only holds col2im's padded plane.)
  const size_t col_size = g.identity_cols() ? 0
                          : direct_dw       ? static_cast<size_t>(padded_floats(g))
                                            : static_cast<size_t>(k * gs * p + padded_floats(g));
  const size_t dcol_size = (dx != nullptr && !g.identity_cols()) ? static_cast<size_t>(k * gs * p) : 0;
  const size_t dyg_size = gs > 1 ? static_cast<size_t>(oc * gs * p) : 0;
  const size_t team_size = col_size + dcol_size + dyg_size;
  float* arena = scratch(partial_size + team_size * static_cast<size_t>(teams));
  float* partial = arena;

  auto run = [&](int64_t grp, float* col, float* dcol, float* dyg) {
    const int64_t n0 = grp * gs, cnt = std::min(gs, batch - n0), ld = cnt * p;
    const float* cols = x + n0 * x_size;
    if (!g.identity_cols() && !direct_dw) {
      for (int64_t j = 0; j < cnt; ++j) im2col(g, x + (n0 + j) * x_size, col + j * p, ld, col + k * ld);
      cols = col;
    }
    // dY of the group as [OC x cnt*P]
    const float* d = dy + n0 * oc * p;
    if (cnt > 1) {
      for (int64_t j = 0; j < cnt; ++j)
        for (int64_t o = 0; o < oc; ++o) {
          const float* src = dy + ((n0 + j) * oc + o) * p;
          float* dst = dyg + o * ld + j * p;
          for (int64_t q = 0; q < p; ++q) dst[q] = src[q];
        }
      d = dyg;
    }
    // partial (or dW) = dY_g * col^T
    if (!direct_dw) {
      gemm(contiguous_gemm(false, true, oc, k, ld, 1.0f, 0.0f), d, cols, groups > 1 ? partial + grp * w_size : dw,
           gemm_threads);
    }
    if (dx == nullptr) return;
    // dcol[K x cnt*P] = W^T * dY_g; for 1x1 stride-1 kernels that is dx itself (cnt == 1).
    const GemmShape gt = contiguous_gemm(true, false, k, ld, oc, 1.0f, 0.0f);
    if (g.identity_cols()) {
      gemm(gt, w, d, dx + n0 * x_size, gemm_threads);
      return;
    }
    gemm(gt, w, d, dcol, gemm_threads);
    float* plane = direct_dw ? col : col + k * ld;
    for (int64_t j = 0; j < cnt; ++j) col2im(g, dcol + j * p, ld, dx + (n0 + j) * x_size, plane);
  };
  // Dynamic, as in conv2d_forward: each group writes its own dW partial and dx images.
  parallel(outer ? threads : 1, [&](Team& team) {
    float* base = arena + partial_size + static_cast<size_t>(team.id()) * team_size;
    team.for_dynamic(0, groups, 1, [&](int64_t grp) { run(grp, base, base + col_size, base + col_size + dcol_size); });
  });
  if (groups > 1 && !direct_dw) {
    // dW = sum of the group partials, in group order.
    parallel_for(w_size * groups >= (1 << 15) ? threads : 1, 0, w_size, [&](int64_t i) {
      float acc = partial[i];
      for (int64_t c = 1; c < groups; ++c) acc += partial[c * w_size + i];
      dw[i] = acc;
    });
  }
}

namespace {

// One output row of 2x2 max-pooling: y[ox] and am[ox] from input rows r0 and r1 (r1 = r0 + wi),
// where base is the plane index of r0[0]. Window in row-major order; a later element wins only
// when strictly greater, so ties keep the first. The first NaN wins and stays (NaN propagates,
// as in PyTorch). Written with selects rather than branches: random data would mispredict half
// of them.
void pool_row_plain(const float* r0, const float* r1, int64_t ow, int32_t base, int32_t wi, float* y, int32_t* am) {
  for (int64_t ox = 0; ox < ow; ++ox) {
    const int32_t b0 = base + static_cast<int32_t>(2 * ox);
    const float u0 = r0[2 * ox], u1 = r0[2 * ox + 1], u2 = r1[2 * ox], u3 = r1[2 * ox + 1];
    float v = u0;
    int32_t best = b0;
    bool take = v == v && (u1 > v || u1 != u1);
    v = take ? u1 : v;
    best = take ? b0 + 1 : best;
    take = v == v && (u2 > v || u2 != u2);
    v = take ? u2 : v;
    best = take ? b0 + wi : best;
    take = v == v && (u3 > v || u3 != u3);
    v = take ? u3 : v;
    best = take ? b0 + wi + 1 : best;
    y[ox] = v;
    am[ox] = best;
  }
}

#if DENDRITE_X86
// The same, 16 outputs at a time: the even and odd columns of each input row are split with
// two permutes, and the selects become masked moves.
__attribute__((target("avx512f"))) void pool_row_avx512(const float* r0, const float* r1, int64_t ow, int32_t base,
                                                         int32_t wi, float* y, int32_t* am) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  auto mask = [](int64_t n) {
    return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1);
  };
  for (int64_t ox = 0; ox < ow; ox += 16) {
    const int64_t n = std::min<int64_t>(16, ow - ox);
    const __mmask16 m = mask(n), lo = mask(2 * n), hi = mask(2 * n - 16);
    // Masked loads are slow on some processors (Zen 5): whole vectors load plainly.
    const bool whole = lo == 0xFFFF;
    const __m512 a0 = whole ? _mm512_loadu_ps(r0 + 2 * ox) : _mm512_maskz_loadu_ps(lo, r0 + 2 * ox);
    const __m512 c0 = whole ? _mm512_loadu_ps(r1 + 2 * ox) : _mm512_maskz_loadu_ps(lo, r1 + 2 * ox);
    const __m512 a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ox + 16), c1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ox + 16);
    const __m512 u[4] = {_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(a0, odd, a1),
                         _mm512_permutex2var_ps(c0, even, c1), _mm512_permutex2var_ps(c0, odd, c1)};
    const __m512i b0 = _mm512_add_epi32(_mm512_set1_epi32(base + static_cast<int32_t>(2 * ox)), even);
    const __m512i idx[4] = {b0, _mm512_add_epi32(b0, _mm512_set1_epi32(1)), _mm512_add_epi32(b0, _mm512_set1_epi32(wi)),
                            _mm512_add_epi32(b0, _mm512_set1_epi32(wi + 1))};
    __m512 v = u[0];
    __m512i best = idx[0];
    for (int e = 1; e < 4; ++e) {
      const __mmask16 take = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q) &
                             (_mm512_cmp_ps_mask(u[e], v, _CMP_GT_OQ) | _mm512_cmp_ps_mask(u[e], u[e], _CMP_UNORD_Q));
      v = _mm512_mask_mov_ps(v, take, u[e]);
      best = _mm512_mask_mov_epi32(best, take, idx[e]);
    }
    _mm512_mask_storeu_ps(y + ox, m, v);
    _mm512_mask_storeu_epi32(am + ox, m, best);
  }
}
#endif

}  // namespace

void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, int threads) {
  const int64_t planes = s.batch * s.channels, oh = s.out_h(), ow = s.out_w(), w = s.in_w;
  const int64_t plane_in = s.in_h * s.in_w, plane_out = oh * ow;
  auto row = pool_row_plain;
#if DENDRITE_X86
  if (active_isa() == Isa::Avx512) row = pool_row_avx512;
#endif
  parallel_for(planes * plane_out >= (1 << 14) ? threads : 1, 0, planes, [&](int64_t pl) {
    const float* xp = x + pl * plane_in;
    for (int64_t oy = 0; oy < oh; ++oy) {
      const float* r0 = xp + 2 * oy * w;
      row(r0, r0 + w, ow, static_cast<int32_t>(2 * oy * w), static_cast<int32_t>(w), y + pl * plane_out + oy * ow,
          argmax + pl * plane_out + oy * ow);
    }
  });
}

namespace {

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// One output row of maxpool2x2_backward: dx rows r0 and r1 (= r0 + w) from dy and the argmax row
// (window of output ox at plane index base + 2 ox). Every index lies in its own window
// (backend.h), so each window is written once: 0 + dy at the index (as a sum onto zero would
// give) and 0 elsewhere. Bit masks rather than branches: the chosen positions are random.
void pool_backward_row_plain(const float* dy, const int32_t* ap, int64_t ow, int64_t base, int64_t w, float* r0,
                             float* r1) {
  for (int64_t ox = 0; ox < ow; ++ox) {
    const int64_t d = ap[ox] - (base + 2 * ox);
    const uint32_t g = bits_of(0.0f + dy[ox]);
    r0[2 * ox] = float_of(g & (0u - static_cast<uint32_t>(d == 0)));
    r0[2 * ox + 1] = float_of(g & (0u - static_cast<uint32_t>(d == 1)));
    r1[2 * ox] = float_of(g & (0u - static_cast<uint32_t>(d == w)));
    r1[2 * ox + 1] = float_of(g & (0u - static_cast<uint32_t>(d == w + 1)));
  }
}

#if DENDRITE_X86
// The same, 16 outputs at a time: even and odd input columns split and joined with permutes.
__attribute__((target("avx512f"))) void pool_backward_row_avx512(const float* dy, const int32_t* ap, int64_t ow,
                                                                  int64_t base, int64_t w, float* r0, float* r1) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i lo_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_half = _mm512_add_epi32(lo_half, _mm512_set1_epi32(8));
  const __m512i wv = _mm512_set1_epi32(static_cast<int32_t>(w)), w1 = _mm512_set1_epi32(static_cast<int32_t>(w + 1));
  const __m512i one = _mm512_set1_epi32(1);
  auto mask = [](int64_t n) {
    return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1);
  };
  for (int64_t ox = 0; ox < ow; ox += 16) {
    const int64_t n = std::min<int64_t>(16, ow - ox);
    const __mmask16 m = mask(n), lo = mask(2 * n), hi = mask(2 * n - 16);
    const __m512i start = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(base + 2 * ox)), even);
    const __m512i d = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, ap + ox), start);
    const __mmask16 k0 = _mm512_cmpeq_epi32_mask(d, _mm512_setzero_si512()), k1 = _mm512_cmpeq_epi32_mask(d, one);
    const __mmask16 k2 = _mm512_cmpeq_epi32_mask(d, wv), k3 = _mm512_cmpeq_epi32_mask(d, w1);
    const __m512 g = _mm512_add_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(m, dy + ox));
    const __m512 e0 = _mm512_maskz_mov_ps(k0, g), e1 = _mm512_maskz_mov_ps(k1, g);
    const __m512 e2 = _mm512_maskz_mov_ps(k2, g), e3 = _mm512_maskz_mov_ps(k3, g);
    // Masked stores are slow on some processors (Zen 5): whole vectors store plainly.
    if (lo == 0xFFFF) {
      _mm512_storeu_ps(r0 + 2 * ox, _mm512_permutex2var_ps(e0, lo_half, e1));
      _mm512_storeu_ps(r1 + 2 * ox, _mm512_permutex2var_ps(e2, lo_half, e3));
    } else {
      _mm512_mask_storeu_ps(r0 + 2 * ox, lo, _mm512_permutex2var_ps(e0, lo_half, e1));
      _mm512_mask_storeu_ps(r1 + 2 * ox, lo, _mm512_permutex2var_ps(e2, lo_half, e3));
    }
    _mm512_mask_storeu_ps(r0 + 2 * ox + 16, hi, _mm512_permutex2var_ps(e0, hi_half, e1));
    _mm512_mask_storeu_ps(r1 + 2 * ox + 16, hi, _mm512_permutex2var_ps(e2, hi_half, e3));
  }
}
#endif

}  // namespace

void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx, int threads) {
  const int64_t planes = s.batch * s.channels, w = s.in_w, oh = s.out_h(), ow = s.out_w();
  const int64_t plane_in = s.in_h * s.in_w, plane_out = oh * ow;
  auto row = pool_backward_row_plain;
#if DENDRITE_X86
  if (active_isa() == Isa::Avx512) row = pool_backward_row_avx512;
#endif
  parallel_for(planes * plane_in >= (1 << 14) ? threads : 1, 0, planes, [&](int64_t pl) {
    float* dxp = dx + pl * plane_in;
    for (int64_t oy = 0; oy < oh; ++oy) {
      const int64_t base = 2 * oy * w;
      row(dy + pl * plane_out + oy * ow, argmax + pl * plane_out + oy * ow, ow, base, w, dxp + base, dxp + base + w);
      if (w % 2 != 0) dxp[base + w - 1] = dxp[base + 2 * w - 1] = 0.0f;  // an odd last column is not pooled
    }
    std::fill(dxp + 2 * oh * w, dxp + plane_in, 0.0f);  // nor an odd last row
  });
}

}  // namespace dendrite::cpu

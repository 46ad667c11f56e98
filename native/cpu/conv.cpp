// 2-D convolution (im2col + GEMM) and 2x2 max-pooling on the CPU, NCHW.
//
// Convolution works image by image: col = im2col(x_n) is a [K x P] matrix (K = in_channels *
// kernel_h * kernel_w, P = out_h * out_w), so that
//   forward   y_n  = W[OC x K] * col + bias
//   backward  dW   = sum_n dy_n[OC x P] * col_n^T,   dcol = W^T * dy_n,  dx_n = col2im(dcol)
//             db   = sum_n sum_p dy_n[:, p]
// The GEMMs go through cpu::gemm, whose result does not depend on its thread count. Images are
// processed in parallel (GEMMs single-threaded) when there are enough of them, else one after
// the other with multi-threaded GEMMs; both give identical results. dW sums over the batch in
// fixed chunks of images (their number depends on the batch size only) added in order, so the
// result does not depend on the thread count either.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace dendrite::cpu {
namespace {

// Most batch chunks of the dW reduction (bounds the partial-sum memory to this many dW copies).
constexpr int64_t kMaxWeightChunks = 32;

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

// col[(c * kh + i) * kw + j][oy * ow + ox] = x[c][oy * stride - pad + i][ox * stride - pad + j] (0 outside).
void im2col(const Geometry& g, const float* x, float* col) {
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        float* row = col + ((c * g.kh + i) * g.kw + j) * g.p();
        int64_t lo, hi;
        valid_range(j, g, g.w, g.ow, lo, hi);
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          float* out = row + oy * g.ow;
          const int64_t iy = oy * g.stride - g.pad + i;
          if (iy < 0 || iy >= g.h) {
            std::fill(out, out + g.ow, 0.0f);
            continue;
          }
          const float* in = x + (c * g.h + iy) * g.w;
          const int64_t shift = j - g.pad;  // input column of ox is ox * stride + shift
          std::fill(out, out + lo, 0.0f);
          if (g.stride == 1) {
            if (hi > lo) std::memcpy(out + lo, in + lo + shift, static_cast<size_t>(hi - lo) * sizeof(float));
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] = in[ox * g.stride + shift];
          }
          std::fill(out + hi, out + g.ow, 0.0f);
        }
      }
}

// dx = col2im(dcol): each dcol entry is added to the input pixel it was copied from, in a fixed
// order (c, i, j, oy, ox). dx is overwritten.
void col2im(const Geometry& g, const float* dcol, float* dx) {
  std::fill(dx, dx + g.c * g.h * g.w, 0.0f);
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const float* row = dcol + ((c * g.kh + i) * g.kw + j) * g.p();
        int64_t lo, hi;
        valid_range(j, g, g.w, g.ow, lo, hi);
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.stride - g.pad + i;
          if (iy < 0 || iy >= g.h) continue;
          float* out = dx + (c * g.h + iy) * g.w;
          const int64_t shift = j - g.pad;
          const float* in = row + oy * g.ow;
          for (int64_t ox = lo; ox < hi; ++ox) out[ox * g.stride + shift] += in[ox];
        }
      }
}

// Whether to run images in parallel (single-threaded GEMMs) rather than in sequence with
// multi-threaded GEMMs. Either choice gives the same numbers.
inline bool images_in_parallel(int64_t units, int threads) { return threads > 1 && units >= threads; }

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y, int threads) {
  const Geometry g = geometry(s);
  const int64_t oc = s.out_channels, k = g.k(), p = g.p();
  if (s.batch <= 0 || oc <= 0 || p <= 0) return;
  const GemmShape gs = contiguous_gemm(false, false, oc, p, k, 1.0f, 0.0f);
  const bool outer = images_in_parallel(s.batch, threads);
  const int gemm_threads = outer ? 1 : threads;

  auto run = [&](int64_t n, float* col) {
    const float* cols = x + n * g.c * g.h * g.w;
    if (!g.identity_cols()) {
      im2col(g, cols, col);
      cols = col;
    }
    float* yn = y + n * oc * p;
    gemm(gs, w, cols, yn, gemm_threads);
    if (bias != nullptr)
      for (int64_t o = 0; o < oc; ++o) {
        const float b = bias[o];
        float* row = yn + o * p;
        for (int64_t q = 0; q < p; ++q) row[q] += b;
      }
  };
  const size_t col_size = g.identity_cols() ? 0 : static_cast<size_t>(k * p);
  // Buffers are allocated here: an exception must not leave a parallel region.
  const int64_t groups = outer ? std::min<int64_t>(threads, s.batch) : 1;
  std::vector<float> col(col_size * static_cast<size_t>(groups));
#pragma omp parallel for num_threads(threads) schedule(static) if (outer)
  for (int64_t t = 0; t < groups; ++t) {
    const int64_t n0 = s.batch * t / groups, n1 = s.batch * (t + 1) / groups;
    for (int64_t n = n0; n < n1; ++n) run(n, col.data() + static_cast<size_t>(t) * col_size);
  }
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int threads) {
  const Geometry g = geometry(s);
  const int64_t oc = s.out_channels, k = g.k(), p = g.p(), batch = s.batch;
  const int64_t w_size = oc * k, x_size = g.c * g.h * g.w;
  if (oc <= 0 || k <= 0) return;

  // db[o] = sum_n sum_q dy[n][o][q], in double, n then q in order; one thread per channel.
  if (db != nullptr) {
#pragma omp parallel for num_threads(threads) schedule(static) if (batch * oc * p >= (1 << 15))
    for (int64_t o = 0; o < oc; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < batch; ++n) {
        const float* row = dy + (n * oc + o) * p;
        for (int64_t q = 0; q < p; ++q) acc += static_cast<double>(row[q]);
      }
      db[o] = static_cast<float>(acc);
    }
  }
  if (batch <= 0 || p <= 0) {
    std::fill(dw, dw + w_size, 0.0f);
    if (dx != nullptr) std::fill(dx, dx + batch * x_size, 0.0f);
    return;
  }

  // Chunk c holds images [c * per_chunk, (c + 1) * per_chunk); its dW partial sums them in order.
  const int64_t chunks = std::min(batch, kMaxWeightChunks);
  const int64_t per_chunk = (batch + chunks - 1) / chunks;
  const int64_t used_chunks = (batch + per_chunk - 1) / per_chunk;
  std::vector<float> partial(static_cast<size_t>(used_chunks > 1 ? used_chunks * w_size : 0));
  const bool outer = images_in_parallel(used_chunks, threads);
  const int gemm_threads = outer ? 1 : threads;
  const size_t col_size = g.identity_cols() ? 0 : static_cast<size_t>(k * p);
  const size_t dcol_size = (dx != nullptr && !g.identity_cols()) ? static_cast<size_t>(k * p) : 0;

  auto run_chunk = [&](int64_t c, float* col, float* dcol) {
    float* acc = used_chunks > 1 ? partial.data() + c * w_size : dw;
    const int64_t n0 = c * per_chunk, n1 = std::min(batch, n0 + per_chunk);
    for (int64_t n = n0; n < n1; ++n) {
      const float* dyn = dy + n * oc * p;
      const float* cols = x + n * x_size;
      if (!g.identity_cols()) {
        im2col(g, cols, col);
        cols = col;
      }
      // acc (+)= dy_n[oc x p] * col^T[p x k]
      gemm(contiguous_gemm(false, true, oc, k, p, 1.0f, n == n0 ? 0.0f : 1.0f), dyn, cols, acc, gemm_threads);
      if (dx != nullptr) {
        float* dxn = dx + n * x_size;
        // dcol[k x p] = W^T * dy_n; for 1x1 stride-1 kernels that is dx_n itself.
        const GemmShape gt = contiguous_gemm(true, false, k, p, oc, 1.0f, 0.0f);
        if (g.identity_cols()) {
          gemm(gt, w, dyn, dxn, gemm_threads);
        } else {
          gemm(gt, w, dyn, dcol, gemm_threads);
          col2im(g, dcol, dxn);
        }
      }
    }
  };
  // Buffers are allocated here: an exception must not leave a parallel region.
  const int64_t groups = outer ? std::min<int64_t>(threads, used_chunks) : 1;
  std::vector<float> col(col_size * static_cast<size_t>(groups)), dcol(dcol_size * static_cast<size_t>(groups));
#pragma omp parallel for num_threads(threads) schedule(static) if (outer)
  for (int64_t t = 0; t < groups; ++t) {
    const int64_t c0 = used_chunks * t / groups, c1 = used_chunks * (t + 1) / groups;
    for (int64_t c = c0; c < c1; ++c)
      run_chunk(c, col.data() + static_cast<size_t>(t) * col_size, dcol.data() + static_cast<size_t>(t) * dcol_size);
  }
  if (used_chunks > 1) {
    // dW = sum of the chunk partials, in chunk order.
#pragma omp parallel for num_threads(threads) schedule(static) if (w_size * used_chunks >= (1 << 15))
    for (int64_t i = 0; i < w_size; ++i) {
      float acc = partial[static_cast<size_t>(i)];
      for (int64_t c = 1; c < used_chunks; ++c) acc += partial[static_cast<size_t>(c * w_size + i)];
      dw[i] = acc;
    }
  }
}

void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, int threads) {
  static_cast<void>(threads);  // only OpenMP pragmas use it
  const int64_t planes = s.batch * s.channels, oh = s.out_h(), ow = s.out_w(), w = s.in_w;
  const int64_t plane_in = s.in_h * s.in_w, plane_out = oh * ow;
#pragma omp parallel for num_threads(threads) schedule(static) if (planes * plane_out >= (1 << 14))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = x + pl * plane_in;
    float* yp = y + pl * plane_out;
    int32_t* ap = argmax + pl * plane_out;
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        // Window in row-major order; a later element wins only when strictly greater, so ties
        // keep the first. The first NaN wins and stays (NaN propagates, as in PyTorch).
        const int64_t base = 2 * oy * w + 2 * ox;
        const int64_t idx[4] = {base, base + 1, base + w, base + w + 1};
        int64_t best = idx[0];
        float v = xp[best];
        for (int t = 1; t < 4; ++t) {
          const float u = xp[idx[t]];
          if (v == v && (u > v || u != u)) {
            v = u;
            best = idx[t];
          }
        }
        yp[oy * ow + ox] = v;
        ap[oy * ow + ox] = static_cast<int32_t>(best);
      }
  }
}

void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx, int threads) {
  static_cast<void>(threads);  // only OpenMP pragmas use it
  const int64_t planes = s.batch * s.channels;
  const int64_t plane_in = s.in_h * s.in_w, plane_out = s.out_h() * s.out_w();
#pragma omp parallel for num_threads(threads) schedule(static) if (planes * plane_in >= (1 << 14))
  for (int64_t pl = 0; pl < planes; ++pl) {
    float* dxp = dx + pl * plane_in;
    std::fill(dxp, dxp + plane_in, 0.0f);
    const float* dyp = dy + pl * plane_out;
    const int32_t* ap = argmax + pl * plane_out;
    // Indices outside the plane are skipped rather than written out of bounds.
    for (int64_t i = 0; i < plane_out; ++i)
      if (ap[i] >= 0 && ap[i] < plane_in) dxp[ap[i]] += dyp[i];
  }
}

}  // namespace dendrite::cpu

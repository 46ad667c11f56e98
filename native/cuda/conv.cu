// 2-D convolution (im2col + the tiled SGEMM of gemm.cu) and 2x2 max-pooling on the GPU.
//
// Workspace: images are processed in chunks so that the im2col buffer stays moderate.
//   K = in_channels * kernel_h * kernel_w, P = out_h * out_w
//   per image: K * P floats of columns, plus out_channels * K floats of that image's share of dw
//   chunk = clamp(2^24 / per_image, 1, batch) images       (about 64 MiB, unless one image needs more)
//   conv2d_workspace_floats = chunk * per_image
// Layout of the columns of a chunk: col[b][kk][p] with kk = (c * kernel_h + i) * kernel_w + j.
//
// Determinism: y and dx elements are each computed by one thread (GEMM, then a gather for col2im);
// dw is the sum over images in order, dw = ((0 + dw_0) + dw_1) + ..., of per-image products
// dy_b * col_b^T, which makes it independent of the chunk size too; db is one fixed-order block
// reduction per channel. No atomics.
#include <cstdint>

#include "cuda_check.cuh"
#include "device_util.cuh"
#include "gemm_internal.cuh"
#include "kernels.cuh"

namespace dendrite::cuda {
namespace {

constexpr int64_t kWorkspaceTargetFloats = int64_t(1) << 24;

struct ConvDims {
  int64_t batch, ic, h, w, oc, kh, kw, stride, pad, oh, ow;
  int64_t k;  // ic * kh * kw
  int64_t p;  // oh * ow
};

ConvDims dims_of(const Conv2dShape& s) {
  ConvDims d{};
  d.batch = s.batch;
  d.ic = s.in_channels;
  d.h = s.in_h;
  d.w = s.in_w;
  d.oc = s.out_channels;
  d.kh = s.kernel_h;
  d.kw = s.kernel_w;
  d.stride = s.stride;
  d.pad = s.pad;
  // No output at all when the kernel does not fit the padded input (guard the truncating division).
  const bool fits = s.stride > 0 && s.in_h + 2 * s.pad >= s.kernel_h && s.in_w + 2 * s.pad >= s.kernel_w;
  d.oh = fits ? s.out_h() : 0;
  d.ow = fits ? s.out_w() : 0;
  d.k = d.ic * d.kh * d.kw;
  d.p = d.oh * d.ow;
  return d;
}

int64_t per_image_floats(const ConvDims& d) { return d.k * d.p + d.oc * d.k; }

int64_t chunk_images(const ConvDims& d) {
  const int64_t batch = d.batch < 1 ? 1 : d.batch;
  const int64_t per = per_image_floats(d);
  if (per <= 0) return batch;
  const int64_t c = kWorkspaceTargetFloats / per;
  return c < 1 ? 1 : (c > batch ? batch : c);
}

// col[b][kk][p] = x[b, c, oh * stride - pad + i, ow * stride - pad + j], 0 in the padding.
__global__ void im2col_kernel(const ConvDims d, const float* __restrict__ x, int64_t images,
                              float* __restrict__ col) {
  const int64_t total = images * d.k * d.p;
  for (int64_t idx = thread_index(); idx < total; idx += thread_count()) {
    const int64_t p = idx % d.p;
    const int64_t t = idx / d.p;
    const int64_t kk = t % d.k;
    const int64_t b = t / d.k;
    const int64_t ow = p % d.ow, oh = p / d.ow;
    const int64_t j = kk % d.kw, t2 = kk / d.kw;
    const int64_t i = t2 % d.kh, c = t2 / d.kh;
    const int64_t h = oh * d.stride - d.pad + i;
    const int64_t w = ow * d.stride - d.pad + j;
    col[idx] = (h >= 0 && h < d.h && w >= 0 && w < d.w) ? x[((b * d.ic + c) * d.h + h) * d.w + w] : 0.0f;
  }
}

// dx[b, c, h, w] = sum over (i, j) in order of dcol[b][(c, i, j)][(oh, ow)] for every output
// position whose window covers (h, w): a gather, so each dx element has one writer.
__global__ void col2im_kernel(const ConvDims d, const float* __restrict__ col, int64_t images,
                              float* __restrict__ dx) {
  const int64_t total = images * d.ic * d.h * d.w;
  for (int64_t idx = thread_index(); idx < total; idx += thread_count()) {
    const int64_t w = idx % d.w;
    int64_t t = idx / d.w;
    const int64_t h = t % d.h;
    t /= d.h;
    const int64_t c = t % d.ic;
    const int64_t b = t / d.ic;
    const float* cb = col + (b * d.k + c * d.kh * d.kw) * d.p;
    float s = 0.0f;
    for (int64_t i = 0; i < d.kh; ++i) {
      const int64_t hh = h + d.pad - i;  // = oh * stride
      if (hh < 0) break;
      if (hh % d.stride != 0) continue;
      const int64_t oh = hh / d.stride;
      if (oh >= d.oh) continue;
      for (int64_t j = 0; j < d.kw; ++j) {
        const int64_t ww = w + d.pad - j;
        if (ww < 0) break;
        if (ww % d.stride != 0) continue;
        const int64_t ow = ww / d.stride;
        if (ow >= d.ow) continue;
        s += cb[(i * d.kw + j) * d.p + oh * d.ow + ow];
      }
    }
    dx[idx] = s;
  }
}

// y[b, o, p] += bias[o]
__global__ void add_bias_kernel(int64_t total, int64_t p, int64_t channels, const float* __restrict__ bias,
                                float* __restrict__ y) {
  for (int64_t idx = thread_index(); idx < total; idx += thread_count()) y[idx] += bias[(idx / p) % channels];
}

// db[o] = sum over (b, p) of dy[b, o, p]: one block per channel, fixed order.
__global__ void bias_grad_kernel(const ConvDims d, const float* __restrict__ dy, float* __restrict__ db) {
  __shared__ float scratch[33];
  const int64_t n = d.batch * d.p;
  for (int64_t o = blockIdx.x; o < d.oc; o += gridDim.x) {
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const int64_t b = i / d.p, p = i - b * d.p;
      s += dy[(b * d.oc + o) * d.p + p];
    }
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) db[o] = s;
  }
}

// dw[i] = (first ? 0 : dw[i]) + partial[0][i] + partial[1][i] + ... in image order.
__global__ void accumulate_dw_kernel(int64_t n, int64_t images, const float* __restrict__ partial, bool first,
                                     float* __restrict__ dw) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    float s = first ? 0.0f : dw[i];
    for (int64_t b = 0; b < images; ++b) s += partial[b * n + i];
    dw[i] = s;
  }
}

void zero(float* p, int64_t n, cudaStream_t stream) {
  if (p != nullptr && n > 0) check(cudaMemsetAsync(p, 0, static_cast<size_t>(n) * sizeof(float), stream), "memset");
}

}  // namespace

size_t conv2d_workspace_floats(const Conv2dShape& s) {
  const ConvDims d = dims_of(s);
  if (d.batch <= 0 || d.p <= 0 || d.k <= 0) return 0;
  return static_cast<size_t>(chunk_images(d) * per_image_floats(d));
}

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                    float* workspace, cudaStream_t stream) {
  const ConvDims d = dims_of(s);
  if (d.batch <= 0 || d.oc <= 0 || d.p <= 0) return;
  const int64_t chunk = chunk_images(d);
  for (int64_t b0 = 0; b0 < d.batch; b0 += chunk) {
    const int64_t nb = d.batch - b0 < chunk ? d.batch - b0 : chunk;
    if (d.k > 0) {
      im2col_kernel<<<grid_for(nb * d.k * d.p), kBlock, 0, stream>>>(d, x + b0 * d.ic * d.h * d.w, nb, workspace);
      check_launch("im2col_kernel");
    }
    // y_b[oc x P] = w[oc x K] * col_b[K x P] for each image b of the chunk.
    const GemmShape g = contiguous_gemm(false, false, d.oc, d.p, d.k, 1.0f, 0.0f);
    GemmBatch batch;
    batch.count = nb;
    batch.stride_a = 0;
    batch.stride_b = d.k * d.p;
    batch.stride_c = d.oc * d.p;
    gemm_batched(g, w, workspace, y + b0 * d.oc * d.p, batch, stream);
  }
  if (bias != nullptr) {
    const int64_t total = d.batch * d.oc * d.p;
    add_bias_kernel<<<grid_for(total), kBlock, 0, stream>>>(total, d.p, d.oc, bias, y);
    check_launch("add_bias_kernel");
  }
}

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, float* workspace, cudaStream_t stream) {
  const ConvDims d = dims_of(s);
  if (d.batch <= 0 || d.p <= 0) {  // no output positions: every gradient is zero
    zero(dw, d.oc * d.k, stream);
    zero(db, d.oc, stream);
    zero(dx, d.batch * d.ic * d.h * d.w, stream);
    return;
  }
  if (db != nullptr && d.oc > 0) {
    bias_grad_kernel<<<grid_cap(d.oc), kBlock, 0, stream>>>(d, dy, db);
    check_launch("bias_grad_kernel");
  }
  if (d.k <= 0) return;  // no inputs channels or an empty kernel: dw and dx are empty
  if (d.oc <= 0) {       // nothing flows back
    zero(dx, d.batch * d.ic * d.h * d.w, stream);
    return;
  }
  const int64_t chunk = chunk_images(d);
  float* col = workspace;                      // chunk x K x P
  float* partial = workspace + chunk * d.k * d.p;  // chunk x oc x K
  const int64_t wsize = d.oc * d.k;
  for (int64_t b0 = 0; b0 < d.batch; b0 += chunk) {
    const int64_t nb = d.batch - b0 < chunk ? d.batch - b0 : chunk;
    const float* dyb = dy + b0 * d.oc * d.p;
    if (dw != nullptr) {
      im2col_kernel<<<grid_for(nb * d.k * d.p), kBlock, 0, stream>>>(d, x + b0 * d.ic * d.h * d.w, nb, col);
      check_launch("im2col_kernel");
      // partial_b[oc x K] = dy_b[oc x P] * col_b[K x P]^T
      const GemmShape g = contiguous_gemm(false, true, d.oc, d.k, d.p, 1.0f, 0.0f);
      GemmBatch batch;
      batch.count = nb;
      batch.stride_a = d.oc * d.p;
      batch.stride_b = d.k * d.p;
      batch.stride_c = wsize;
      gemm_batched(g, dyb, col, partial, batch, stream);
      accumulate_dw_kernel<<<grid_for(wsize), kBlock, 0, stream>>>(wsize, nb, partial, b0 == 0, dw);
      check_launch("accumulate_dw_kernel");
    }
    if (dx != nullptr) {
      // dcol_b[K x P] = w[oc x K]^T * dy_b[oc x P], into the column buffer (col is no longer needed).
      const GemmShape g = contiguous_gemm(true, false, d.k, d.p, d.oc, 1.0f, 0.0f);
      GemmBatch batch;
      batch.count = nb;
      batch.stride_a = 0;
      batch.stride_b = d.oc * d.p;
      batch.stride_c = d.k * d.p;
      gemm_batched(g, w, dyb, col, batch, stream);
      col2im_kernel<<<grid_for(nb * d.ic * d.h * d.w), kBlock, 0, stream>>>(d, col, nb,
                                                                             dx + b0 * d.ic * d.h * d.w);
      check_launch("col2im_kernel");
    }
  }
}

namespace {

struct PoolDims {
  int64_t planes, h, w, oh, ow;
};

PoolDims pool_dims(const Pool2dShape& s) {
  return PoolDims{s.batch * s.channels, s.in_h, s.in_w, s.out_h(), s.out_w()};
}

// One thread per output: the window's elements in row-major order, the first maximum wins
// (strict >); a NaN wins over numbers, as in PyTorch.
__global__ void maxpool_forward_kernel(const PoolDims d, const float* __restrict__ x, float* __restrict__ y,
                                       int32_t* __restrict__ argmax) {
  const int64_t total = d.planes * d.oh * d.ow;
  for (int64_t idx = thread_index(); idx < total; idx += thread_count()) {
    const int64_t ow = idx % d.ow;
    const int64_t t = idx / d.ow;
    const int64_t oh = t % d.oh;
    const int64_t plane = t / d.oh;
    const float* base = x + plane * d.h * d.w;
    const int64_t h0 = 2 * oh, w0 = 2 * ow;
    int64_t best_i = h0 * d.w + w0;
    float best = base[best_i];
    const int64_t others[3] = {h0 * d.w + w0 + 1, (h0 + 1) * d.w + w0, (h0 + 1) * d.w + w0 + 1};
    for (int q = 0; q < 3; ++q) {
      const float v = base[others[q]];
      if (v > best || (isnan(v) && !isnan(best))) {
        best = v;
        best_i = others[q];
      }
    }
    y[idx] = best;
    argmax[idx] = static_cast<int32_t>(best_i);
  }
}

// One thread per dx element: the only window that can hold (h, w) is (h / 2, w / 2); take its dy
// when its argmax names this element, else 0 (also in the odd row/column that pooling drops).
// Argmax values outside their own window (never produced by the forward pass) contribute nothing.
__global__ void maxpool_backward_kernel(const PoolDims d, const float* __restrict__ dy,
                                        const int32_t* __restrict__ argmax, float* __restrict__ dx) {
  const int64_t total = d.planes * d.h * d.w;
  for (int64_t idx = thread_index(); idx < total; idx += thread_count()) {
    const int64_t w = idx % d.w;
    const int64_t t = idx / d.w;
    const int64_t h = t % d.h;
    const int64_t plane = t / d.h;
    const int64_t oh = h / 2, ow = w / 2;
    float v = 0.0f;
    if (oh < d.oh && ow < d.ow) {
      const int64_t o = (plane * d.oh + oh) * d.ow + ow;
      if (argmax[o] == h * d.w + w) v = dy[o];
    }
    dx[idx] = v;
  }
}

}  // namespace

void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, cudaStream_t stream) {
  const PoolDims d = pool_dims(s);
  const int64_t total = d.planes * d.oh * d.ow;
  if (total <= 0) return;
  maxpool_forward_kernel<<<grid_for(total), kBlock, 0, stream>>>(d, x, y, argmax);
  check_launch("maxpool_forward_kernel");
}

void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx,
                         cudaStream_t stream) {
  const PoolDims d = pool_dims(s);
  const int64_t total = d.planes * d.h * d.w;
  if (total <= 0) return;
  maxpool_backward_kernel<<<grid_for(total), kBlock, 0, stream>>>(d, dy, argmax, dx);
  check_launch("maxpool_backward_kernel");
}

}  // namespace dendrite::cuda

// Shapes and hyperparameters of the kernels, shared by every backend.
// All tensors are dense float32, row-major (C order); images are NCHW.
#pragma once

#include <cstdint>

namespace dendrite {

// C[m x n] = alpha * op(A) * op(B) + beta * C, where op(A) is m x k and op(B) is k x n.
// lda/ldb/ldc are row strides of A, B, C as stored (A is m x k, or k x m when trans_a).
struct GemmShape {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  float alpha = 1.0f;
  float beta = 0.0f;
};

// Fills the strides of a GEMM whose matrices are stored contiguously.
inline GemmShape contiguous_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, float beta) {
  GemmShape g;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = m;
  g.n = n;
  g.k = k;
  g.lda = trans_a ? m : k;
  g.ldb = trans_b ? k : n;
  g.ldc = n;
  g.alpha = alpha;
  g.beta = beta;
  return g;
}

enum class UnaryOp {
  Sigmoid,      // y = 1 / (1 + exp(-x))
  SigmoidGrad,  // y = s(x) * (1 - s(x)), the derivative at x
  Relu,         // y = max(x, 0)
  ReluGrad,     // y = 1 if x > 0 else 0
  ScaleShift,   // y = scale * x + shift
};

// 2-D convolution (cross-correlation, as in PyTorch) of x[batch, in_channels, in_h, in_w]
// with w[out_channels, in_channels, kernel_h, kernel_w], square stride and zero padding.
struct Conv2dShape {
  int64_t batch = 0, in_channels = 0, in_h = 0, in_w = 0;
  int64_t out_channels = 0, kernel_h = 0, kernel_w = 0;
  int64_t stride = 1, pad = 0;

  int64_t out_h() const { return (in_h + 2 * pad - kernel_h) / stride + 1; }
  int64_t out_w() const { return (in_w + 2 * pad - kernel_w) / stride + 1; }
};

// 2x2 max-pooling with stride 2 of x[batch, channels, in_h, in_w]; odd edges are dropped
// (floor), as in PyTorch's default.
struct Pool2dShape {
  int64_t batch = 0, channels = 0, in_h = 0, in_w = 0;

  int64_t out_h() const { return in_h / 2; }
  int64_t out_w() const { return in_w / 2; }
};

// Batch normalisation over x[batch, channels, spatial] (spatial = H*W for images, 1 for dense
// layers): statistics per channel over batch and spatial positions, as PyTorch's BatchNorm1d/2d.
struct BatchNormShape {
  int64_t batch = 0, channels = 0, spatial = 1;
  float eps = 1e-5f;
  float momentum = 0.1f;  // running = (1 - momentum) * running + momentum * batch statistic
};

// Plain SGD with optional momentum and L2 weight decay, PyTorch's torch.optim.SGD semantics:
// g = grad + weight_decay * p; v = momentum * v + g; p -= lr * v  (v = g when momentum == 0).
struct SgdParams {
  float lr = 0.01f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
};

// Adam, PyTorch's torch.optim.Adam semantics (L2 weight decay added to the gradient).
// step is the 1-based step count of this update; the bias corrections derive from it.
struct AdamParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  int64_t step = 1;
};

// A position in the counter-based random stream: element i of a draw uses counter
// (offset + i, stream), so any slice of a stream can be regenerated independently.
struct RngStream {
  uint64_t seed = 0;
  uint64_t stream = 0;
  uint64_t offset = 0;
};

}  // namespace dendrite

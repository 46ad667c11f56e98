// The one interface every compute backend implements (native/cpu, native/cuda).
//
// Pointers passed to kernels live in the backend's memory: host memory for the CPU, device
// memory for CUDA (see allocate / to_device / to_host, and HostStaging for host arrays).
// Kernels are synchronous: when a call returns, its outputs are complete. Every kernel gives
// the same result for the same inputs on every call (fixed reduction order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "shapes.h"

namespace dendrite {

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu" or "cuda:N".
  virtual std::string name() const = 0;
  // True when kernel pointers are ordinary host pointers (no copies needed).
  virtual bool is_host() const = 0;

  // ---- memory ----
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* ptr) noexcept = 0;
  virtual void to_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void to_host(void* dst, const void* src, size_t bytes) = 0;

  // ---- dense linear algebra ----
  // C = alpha * op(A) * op(B) + beta * C. With beta == 0, C is not read (NaN in C is ignored).
  virtual void gemm(const GemmShape& g, const float* a, const float* b, float* c) = 0;
  // y = alpha * op(A) * x + beta * y with A stored rows x cols (op(A) = A^T when trans).
  virtual void gemv(bool trans, int64_t rows, int64_t cols, float alpha, const float* a, const float* x,
                    float beta, float* y) = 0;
  // A[rows x cols] += alpha * x * y^T (rank-1 update).
  virtual void ger(int64_t rows, int64_t cols, float alpha, const float* x, const float* y, float* a) = 0;

  // ---- elementwise and reductions ----
  // y[i] = op(x[i]); scale and shift are used by ScaleShift only. y may equal x.
  virtual void unary(UnaryOp op, int64_t n, const float* x, float* y, float scale, float shift) = 0;
  // dx[i] = dy[i] where y[i] > 0, else 0: the gradient through y = relu(x), given y (or x: both
  // are positive at the same places). dx may equal dy.
  virtual void relu_backward(int64_t n, const float* y, const float* dy, float* dx) = 0;
  // out[r] = sum_c a[r, c]
  virtual void row_sums(int64_t rows, int64_t cols, const float* a, float* out) = 0;
  // out[c] = sum_r a[r, c]
  virtual void col_sums(int64_t rows, int64_t cols, const float* a, float* out) = 0;

  // Softmax cross-entropy of logits[batch x classes] against integer labels (each in [0, classes)).
  // losses[b] = -log softmax(logits[b])[labels[b]];
  // grad = (softmax(logits) - onehot(labels)) / batch, the gradient of the mean loss.
  virtual void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels,
                                     float* losses, float* grad) = 0;

  // ---- convolution, pooling, batch normalisation (NCHW) ----
  // y[batch, out_channels, out_h, out_w] = conv(x, w) + bias (bias may be null).
  virtual void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y) = 0;
  // Gradients of conv2d_forward given dy; dx and db may be null when not wanted. dw and db are
  // overwritten, not accumulated.
  virtual void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx,
                               float* dw, float* db) = 0;
  // y = 2x2/stride-2 max; argmax[i] is the index (h * in_w + w) of the chosen element within
  // its (batch, channel) plane of x; ties pick the first in row-major order.
  virtual void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) = 0;
  // dx = scatter of dy through argmax (dx is fully overwritten). argmax as maxpool2x2_forward
  // writes it: every index lies within its own 2x2 window (the bindings check this).
  virtual void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx) = 0;
  // Training mode: normalise with the batch statistics (biased variance), write the batch mean
  // and 1/sqrt(var + eps) per channel, and update the running mean and (unbiased) variance.
  virtual void batchnorm_forward_train(const BatchNormShape& s, const float* x, const float* gamma,
                                       const float* beta, float* y, float* saved_mean, float* saved_invstd,
                                       float* running_mean, float* running_var) = 0;
  // The same followed by a ReLU on the output (unary Relu): y = relu(batchnorm(x)). Backends may
  // fuse the two passes.
  virtual void batchnorm_relu_forward_train(const BatchNormShape& s, const float* x, const float* gamma,
                                            const float* beta, float* y, float* saved_mean, float* saved_invstd,
                                            float* running_mean, float* running_var) {
    batchnorm_forward_train(s, x, gamma, beta, y, saved_mean, saved_invstd, running_mean, running_var);
    unary(UnaryOp::Relu, s.batch * s.channels * s.spatial, y, y, 1.0f, 0.0f);
  }
  // Evaluation mode: normalise with the running statistics.
  virtual void batchnorm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma,
                                      const float* beta, const float* running_mean, const float* running_var,
                                      float* y) = 0;
  // Gradients of batchnorm_forward_train.
  virtual void batchnorm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* gamma,
                                  const float* saved_mean, const float* saved_invstd, float* dx, float* dgamma,
                                  float* dbeta) = 0;

  // ---- optimisers (update param and state in place) ----
  // velocity may be null when p.momentum == 0.
  virtual void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity) = 0;
  virtual void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v) = 0;

  // ---- random numbers (Philox4x32-10; identical on every backend for the same stream) ----
  // Element i depends only on (r.seed, r.stream, r.offset + i); see common/philox.h.
  virtual void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out) = 0;
  virtual void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out) = 0;
  // out[i] = 1 with probability p[i], else 0.
  virtual void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out) = 0;
  // out[i] ~ Poisson(rate[i]), rate[i] in [0, 1e9] (larger rates are clamped to 1e9: common/philox.h).
  virtual void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out) = 0;
  // out[i] ~ Wald (inverse Gaussian) with the given mean and shape (lambda).
  virtual void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out) = 0;
};

// The CPU backend, using `threads` threads of the pool (1 in a single-threaded build).
std::unique_ptr<Backend> make_cpu_backend(int threads);
// The CUDA backend on device `index`; throws Error(DeviceUnavailable) naming the reason.
std::unique_ptr<Backend> make_cuda_backend(int index);

}  // namespace dendrite

// Optimiser updates on the GPU (one thread per parameter), PyTorch semantics (see shapes.h).
#include <cmath>
#include <cstdint>

#include "cuda_check.cuh"
#include "device_util.cuh"
#include "kernels.cuh"

namespace dendrite::cuda {
namespace {

// g = grad + wd * p; v = momentum * v + g (when momentum != 0, else v = g); p -= lr * v
__global__ void sgd_kernel(int64_t n, float lr, float momentum, float weight_decay, float* __restrict__ param,
                           const float* __restrict__ grad, float* __restrict__ velocity) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const float p = param[i];
    float g = grad[i];
    if (weight_decay != 0.0f) g += weight_decay * p;
    if (momentum != 0.0f) {
      g = momentum * velocity[i] + g;
      velocity[i] = g;
    }
    param[i] = p - lr * g;
  }
}

// torch.optim.Adam: g = grad + wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p -= step_size * m / (sqrt(v) / sqrt(bc2) + eps) with step_size = lr / bc1,
// bc1 = 1 - b1^step, bc2 = 1 - b2^step (computed on the host in double, as PyTorch does).
__global__ void adam_kernel(int64_t n, float beta1, float beta2, float eps, float weight_decay, float step_size,
                            float bc2_sqrt, float* __restrict__ param, const float* __restrict__ grad,
                            float* __restrict__ m, float* __restrict__ v) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const float p = param[i];
    float g = grad[i];
    if (weight_decay != 0.0f) g += weight_decay * p;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    param[i] = p - step_size * (mi / denom);
  }
}

}  // namespace

void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity,
                cudaStream_t stream) {
  if (n <= 0) return;
  // Without a velocity buffer there is nothing to keep momentum in: plain SGD.
  const float momentum = velocity != nullptr ? p.momentum : 0.0f;
  sgd_kernel<<<grid_for(n), kBlock, 0, stream>>>(n, p.lr, momentum, p.weight_decay, param, grad, velocity);
  check_launch("sgd_kernel");
}

void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v,
                 cudaStream_t stream) {
  if (n <= 0) return;
  const double step = static_cast<double>(p.step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), step);
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), step);
  const float step_size = static_cast<float>(static_cast<double>(p.lr) / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  adam_kernel<<<grid_for(n), kBlock, 0, stream>>>(n, p.beta1, p.beta2, p.eps, p.weight_decay, step_size, bc2_sqrt,
                                                  param, grad, m, v);
  check_launch("adam_kernel");
}

}  // namespace dendrite::cuda

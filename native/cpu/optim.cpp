// SGD and Adam parameter updates on the CPU, following torch.optim.SGD / torch.optim.Adam
// (single-tensor, non-Nesterov, non-AMSGrad) operation by operation in float32.
#include <cmath>

#include "kernels.h"

namespace dendrite::cpu {
namespace {
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity, int threads) {
  static_cast<void>(threads);  // only OpenMP pragmas use it
  const float lr = p.lr, mom = p.momentum, wd = p.weight_decay;
  if (mom == 0.0f || velocity == nullptr) {
    // g = grad + wd * p;  p -= lr * g
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
      const float g = wd != 0.0f ? grad[i] + wd * param[i] : grad[i];
      param[i] -= lr * g;
    }
    return;
  }
  // v = momentum * v + g;  p -= lr * v.
  // PyTorch starts the buffer at v = g on the first step; a velocity array initialised to zero
  // gives momentum * 0 + g = g, the same value, so callers simply start from zeros.
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float g = wd != 0.0f ? grad[i] + wd * param[i] : grad[i];
    const float v = mom * velocity[i] + g;
    velocity[i] = v;
    param[i] -= lr * v;
  }
}

void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v, int threads) {
  static_cast<void>(threads);  // only OpenMP pragmas use it
  // Bias corrections in double: bc1 = 1 - beta1^step, bc2 = 1 - beta2^step.
  const double step = static_cast<double>(p.step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), step);
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), step);
  const float step_size = static_cast<float>(static_cast<double>(p.lr) / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float w1 = 1.0f - p.beta1, w1c = 1.0f - w1, b2 = p.beta2, w2 = 1.0f - p.beta2, eps = p.eps, wd = p.weight_decay;
  const bool w1_small = std::fabs(w1) < 0.5f;
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float g = wd != 0.0f ? grad[i] + wd * param[i] : grad[i];
    // m = lerp(m, g, w1), w1 = 1 - beta1, in PyTorch's two-sided form:
    // m + w1 * (g - m) for w1 < 0.5, else g - (g - m) * (1 - w1).
    const float mi = w1_small ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * w1c;
    // v = beta2 * v + (1 - beta2) * g * g
    const float vi = b2 * v[i] + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    // p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    param[i] -= step_size * (mi / denom);
  }
}

}  // namespace dendrite::cpu

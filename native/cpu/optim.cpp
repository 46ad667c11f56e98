// SGD and Adam parameter updates on the CPU, following torch.optim.SGD / torch.optim.Adam
// (single-tensor, non-Nesterov, non-AMSGrad) operation by operation in float32.
#include <algorithm>
#include <cmath>

#include "kernels.h"
#include "parallel.h"
#include "simd.h"

namespace dendrite::cpu {
namespace {
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity, int threads) {
  const float lr = p.lr, mom = p.momentum, wd = p.weight_decay;
  if (mom == 0.0f || velocity == nullptr) {
    // g = grad + wd * p;  p -= lr * g
    parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) {
      const float g = wd != 0.0f ? grad[i] + wd * param[i] : grad[i];
      param[i] -= lr * g;
    });
    return;
  }
  // v = momentum * v + g;  p -= lr * v.
  // PyTorch starts the buffer at v = g on the first step; a velocity array initialised to zero
  // gives momentum * 0 + g = g, the same value, so callers simply start from zeros.
  parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) {
    const float g = wd != 0.0f ? grad[i] + wd * param[i] : grad[i];
    const float v = mom * velocity[i] + g;
    velocity[i] = v;
    param[i] -= lr * v;
  });
}

namespace {

// Adam's per-element constants (see adam_update).
struct AdamConsts {
  float w1, w1c, b2, w2, eps, wd, step_size, bc2_sqrt;
  bool w1_small;
};

// One element of the update; the vector loops below repeat it lane by lane with the same
// operations in the same order (no FMA contraction: simd.h), so every instruction set
// gives the same bits.
inline void adam_element(const AdamConsts& k, float& param, float grad, float& m, float& v) {
  const float g = k.wd != 0.0f ? grad + k.wd * param : grad;
  // m = lerp(m, g, w1), w1 = 1 - beta1, in PyTorch's two-sided form:
  // m + w1 * (g - m) for w1 < 0.5, else g - (g - m) * (1 - w1).
  const float mi = k.w1_small ? m + k.w1 * (g - m) : g - (g - m) * k.w1c;
  // v = beta2 * v + (1 - beta2) * g * g
  const float vi = k.b2 * v + k.w2 * g * g;
  m = mi;
  v = vi;
  // p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
  const float denom = std::sqrt(vi) / k.bc2_sqrt + k.eps;
  param -= k.step_size * (mi / denom);
}

void adam_range_scalar(const AdamConsts& k, int64_t i0, int64_t i1, float* param, const float* grad, float* m,
                       float* v) {
  for (int64_t i = i0; i < i1; ++i) adam_element(k, param[i], grad[i], m[i], v[i]);
}

#if DENDRITE_X86
__attribute__((target("avx512f"))) void adam_range_avx512(const AdamConsts& k, int64_t i0, int64_t i1, float* param,
                                                          const float* grad, float* m, float* v) {
  const __m512 w1 = _mm512_set1_ps(k.w1), w1c = _mm512_set1_ps(k.w1c), b2 = _mm512_set1_ps(k.b2),
               w2 = _mm512_set1_ps(k.w2), eps = _mm512_set1_ps(k.eps), wd = _mm512_set1_ps(k.wd),
               step = _mm512_set1_ps(k.step_size), bc2 = _mm512_set1_ps(k.bc2_sqrt);
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    const __m512 p = _mm512_loadu_ps(param + i), mo = _mm512_loadu_ps(m + i), vo = _mm512_loadu_ps(v + i);
    __m512 g = _mm512_loadu_ps(grad + i);
    if (k.wd != 0.0f) g = _mm512_add_ps(g, _mm512_mul_ps(wd, p));
    const __m512 d = _mm512_sub_ps(g, mo);
    const __m512 mi = k.w1_small ? _mm512_add_ps(mo, _mm512_mul_ps(w1, d)) : _mm512_sub_ps(g, _mm512_mul_ps(d, w1c));
    const __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, vo), _mm512_mul_ps(_mm512_mul_ps(w2, g), g));
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
    const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
    _mm512_storeu_ps(param + i, _mm512_sub_ps(p, _mm512_mul_ps(step, _mm512_div_ps(mi, denom))));
  }
  adam_range_scalar(k, i, i1, param, grad, m, v);
}

__attribute__((target("avx2"))) void adam_range_avx2(const AdamConsts& k, int64_t i0, int64_t i1, float* param,
                                                    const float* grad, float* m, float* v) {
  const __m256 w1 = _mm256_set1_ps(k.w1), w1c = _mm256_set1_ps(k.w1c), b2 = _mm256_set1_ps(k.b2),
               w2 = _mm256_set1_ps(k.w2), eps = _mm256_set1_ps(k.eps), wd = _mm256_set1_ps(k.wd),
               step = _mm256_set1_ps(k.step_size), bc2 = _mm256_set1_ps(k.bc2_sqrt);
  int64_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 p = _mm256_loadu_ps(param + i), mo = _mm256_loadu_ps(m + i), vo = _mm256_loadu_ps(v + i);
    __m256 g = _mm256_loadu_ps(grad + i);
    if (k.wd != 0.0f) g = _mm256_add_ps(g, _mm256_mul_ps(wd, p));
    const __m256 d = _mm256_sub_ps(g, mo);
    const __m256 mi = k.w1_small ? _mm256_add_ps(mo, _mm256_mul_ps(w1, d)) : _mm256_sub_ps(g, _mm256_mul_ps(d, w1c));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, vo), _mm256_mul_ps(_mm256_mul_ps(w2, g), g));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
    _mm256_storeu_ps(param + i, _mm256_sub_ps(p, _mm256_mul_ps(step, _mm256_div_ps(mi, denom))));
  }
  adam_range_scalar(k, i, i1, param, grad, m, v);
}
#endif

}  // namespace

void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v, int threads) {
  // Bias corrections in double: bc1 = 1 - beta1^step, bc2 = 1 - beta2^step.
  const double step = static_cast<double>(p.step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), step);
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), step);
  AdamConsts k;
  k.step_size = static_cast<float>(static_cast<double>(p.lr) / bc1);
  k.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  k.w1 = 1.0f - p.beta1;
  k.w1c = 1.0f - k.w1;
  k.b2 = p.beta2;
  k.w2 = 1.0f - p.beta2;
  k.eps = p.eps;
  k.wd = p.weight_decay;
  k.w1_small = std::fabs(k.w1) < 0.5f;
  auto range = adam_range_scalar;
#if DENDRITE_X86
  const Isa isa = active_isa();
  if (isa == Isa::Avx512) range = adam_range_avx512;
  else if (isa == Isa::Avx2) range = adam_range_avx2;
#endif
  // Blocks of whole vectors; each element's result does not depend on the split.
  constexpr int64_t kBlock = 1 << 13;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(n >= kParallelMin ? threads : 1, 0, blocks, [&](int64_t b) {
    range(k, b * kBlock, std::min(n, (b + 1) * kBlock), param, grad, m, v);
  });
}

}  // namespace dendrite::cpu

// Batch normalisation over x[batch, channels, spatial] on the CPU (PyTorch semantics).
//
// Per-channel statistics are reduced in double by one thread per channel, over n then the
// spatial positions of each (n, channel) plane (each plane summed over 16 interleaved lanes
// combined by a fixed tree), so results depend neither on the thread count nor on the
// instruction set. Mean and variance use two passes
// (var = mean((x - mean)^2)), which does not lose precision when |mean| >> std.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../common/error.h"
#include "kernels.h"
#include "parallel.h"
#include "simd.h"

namespace dendrite::cpu {
namespace {

constexpr int64_t kParallelMin = 1 << 14;

// Plane sums in double over 16 lanes: element i goes to lane i % 16; the lanes are combined
// by a fixed tree (tree16), so the AVX-512 and portable versions give the same bits.
//   Sum:   a = sum x
//   SqDev: a = sum (x - m)^2
//   DyX:   a = sum dy,  b = sum dy * ((x - m) * is)
enum class PlaneKind { Sum, SqDev, DyX };
struct PlaneSums {
  double a = 0, b = 0;
};

// ((l0 + l8) + (l4 + l12)) + ((l2 + l10) + (l6 + l14)) + ... as halving lane-wise additions.
double tree16(double* l) {
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) l[i] += l[i + w];
  return l[0];
}

template <PlaneKind K>
PlaneSums plane_sums_plain(const float* x, const float* dy, int64_t n, double m, double is) {
  double la[16] = {}, lb[16] = {};
  for (int64_t i0 = 0; i0 < n; i0 += 16) {
    const int64_t lanes = std::min<int64_t>(16, n - i0);
    for (int64_t l = 0; l < lanes; ++l) {
      const double v = x[i0 + l];
      if (K == PlaneKind::Sum) {
        la[l] += v;
      } else if (K == PlaneKind::SqDev) {
        const double d = v - m;
        la[l] += d * d;
      } else {
        const double d = dy[i0 + l];
        la[l] += d;
        lb[l] += d * ((v - m) * is);
      }
    }
  }
  PlaneSums r;
  r.a = tree16(la);
  if (K == PlaneKind::DyX) r.b = tree16(lb);
  return r;
}

#if DENDRITE_X86
template <PlaneKind K>
__attribute__((target("avx512f"))) PlaneSums plane_sums_avx512(const float* x, const float* dy, int64_t n, double m,
                                                                double is) {
  __m512d a[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()}, b[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
  const __m512d mv = _mm512_set1_pd(m), isv = _mm512_set1_pd(is);
  for (int64_t i0 = 0; i0 < n; i0 += 16) {
    const int64_t left = n - i0;
    const __mmask16 k = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
    // Masked loads are slow on some processors (Zen 5): whole vectors load plainly.
    const __m512 xv = left >= 16 ? _mm512_loadu_ps(x + i0) : _mm512_maskz_loadu_ps(k, x + i0);
    const __m512 dv = K != PlaneKind::DyX ? _mm512_setzero_ps()
                      : left >= 16        ? _mm512_loadu_ps(dy + i0)
                                          : _mm512_maskz_loadu_ps(k, dy + i0);
    // The two halves of the 16 floats, as doubles.
    const __m512d xh[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(xv)),
                           _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(xv), 1)))};
    const __m512d dh[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(dv)),
                           _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(dv), 1)))};
    for (int h = 0; h < 2; ++h) {
      const __mmask8 kh = static_cast<__mmask8>(k >> (8 * h));
      const __m512d v = xh[h];
      if (K == PlaneKind::Sum) {
        a[h] = _mm512_mask_add_pd(a[h], kh, a[h], v);
      } else if (K == PlaneKind::SqDev) {
        const __m512d d = _mm512_sub_pd(v, mv);
        a[h] = _mm512_mask_add_pd(a[h], kh, a[h], _mm512_mul_pd(d, d));
      } else {
        const __m512d d = dh[h];
        a[h] = _mm512_mask_add_pd(a[h], kh, a[h], d);
        b[h] = _mm512_mask_add_pd(b[h], kh, b[h], _mm512_mul_pd(d, _mm512_mul_pd(_mm512_sub_pd(v, mv), isv)));
      }
    }
  }
  double la[16], lb[16];
  _mm512_storeu_pd(la, a[0]);
  _mm512_storeu_pd(la + 8, a[1]);
  _mm512_storeu_pd(lb, b[0]);
  _mm512_storeu_pd(lb + 8, b[1]);
  PlaneSums r;
  r.a = tree16(la);
  if (K == PlaneKind::DyX) r.b = tree16(lb);
  return r;
}
#endif

template <PlaneKind K>
using PlaneSumsFn = PlaneSums (*)(const float* x, const float* dy, int64_t n, double m, double is);

// The version for this processor (looked up once per kernel call: active_isa() reads the
// environment).
template <PlaneKind K>
PlaneSumsFn<K> plane_sums() {
#if DENDRITE_X86
  if (active_isa() == Isa::Avx512) return plane_sums_avx512<K>;
#endif
  return plane_sums_plain<K>;
}

// out[c] = sum_n plane(n, c) for every channel, one thread per channel block.
// plane(c, p) gives the sum over the plane p of channel c.
template <class PlaneSum>
void channel_sums(const BatchNormShape& s, const float* x, double* out, int threads, PlaneSum plane) {
  const int64_t ch = s.channels, sp = s.spatial, batch = s.batch;
  parallel_for(batch * ch * sp >= kParallelMin ? threads : 1, 0, ch, [&](int64_t c) {
    double acc = 0;
    for (int64_t n = 0; n < batch; ++n) acc += plane(c, x + (n * ch + c) * sp);
    out[c] = acc;
  });
}

// y = (x - m) * a + b over one plane, in double per element.
DENDRITE_CLONES void normalise_plane(const float* x, int64_t n, double m, double a, double b, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>((static_cast<double>(x[i]) - m) * a + b);
}

// The same followed by unary Relu (NaN propagates).
DENDRITE_CLONES void normalise_relu_plane(const float* x, int64_t n, double m, double a, double b, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = static_cast<float>((static_cast<double>(x[i]) - m) * a + b);
    y[i] = (v > 0.0f || v != v) ? v : 0.0f;
  }
}

// y = (x - mean_c) * scale_c + shift_c, computed in double per element (then relu'd with relu).
void normalise(const BatchNormShape& s, const float* x, const double* mean, const double* scale,
               const double* shift, float* y, int threads, bool relu = false) {
  const int64_t ch = s.channels, sp = s.spatial, planes = s.batch * ch;
  parallel_for(planes * sp >= kParallelMin ? threads : 1, 0, planes, [&](int64_t pl) {
    const int64_t c = pl % ch;
    (relu ? normalise_relu_plane : normalise_plane)(x + pl * sp, sp, mean[c], scale[c], shift[c], y + pl * sp);
  });
}

// dx = k * (count * dy - sdy - xhat * sdyx), xhat = (x - m) * is, over one plane, in double.
DENDRITE_CLONES void bn_dx_plane(const float* x, const float* dy, int64_t n, double m, double is, double k,
                                 double count, double sdy, double sdyx, float* dx) {
  for (int64_t i = 0; i < n; ++i) {
    const double xhat = (static_cast<double>(x[i]) - m) * is;
    dx[i] = static_cast<float>(k * (count * dy[i] - sdy - xhat * sdyx));
  }
}

}  // namespace

void batchnorm_forward_train(const BatchNormShape& s, const float* x, const float* gamma, const float* beta, float* y,
                             float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                             int threads, bool relu) {
  const int64_t ch = s.channels;
  const int64_t count = s.batch * s.spatial;
  // PyTorch refuses this too: the unbiased variance needs two values per channel.
  if (count < 2) {
    fail(ErrorKind::OutOfRange, "batchnorm_forward_train: expected more than 1 value per channel (batch * spatial = " +
                                    std::to_string(count) + ")");
  }
  std::vector<double> mean(static_cast<size_t>(ch)), var(static_cast<size_t>(ch));
  const double inv_count = 1.0 / static_cast<double>(count);
  const int64_t sp = s.spatial;
  const auto sum = plane_sums<PlaneKind::Sum>();
  const auto sq_dev = plane_sums<PlaneKind::SqDev>();
  channel_sums(s, x, mean.data(), threads, [&](int64_t, const float* p) { return sum(p, nullptr, sp, 0, 0).a; });
  for (double& m : mean) m *= inv_count;
  channel_sums(s, x, var.data(), threads, [&](int64_t c, const float* p) {
    return sq_dev(p, nullptr, sp, mean[static_cast<size_t>(c)], 0).a;
  });
  std::vector<double> scale(static_cast<size_t>(ch)), shift(static_cast<size_t>(ch));
  const double mom = s.momentum, unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  for (int64_t c = 0; c < ch; ++c) {
    const size_t i = static_cast<size_t>(c);
    const double v = var[i] * inv_count;  // biased variance normalises
    const double invstd = 1.0 / std::sqrt(v + static_cast<double>(s.eps));
    scale[i] = static_cast<double>(gamma[c]) * invstd;
    shift[i] = beta[c];
    saved_mean[c] = static_cast<float>(mean[i]);
    saved_invstd[c] = static_cast<float>(invstd);
    // running = (1 - momentum) * running + momentum * statistic, with the unbiased variance.
    running_mean[c] = static_cast<float>((1.0 - mom) * running_mean[c] + mom * mean[i]);
    running_var[c] = static_cast<float>((1.0 - mom) * running_var[c] + mom * v * unbias);
  }
  normalise(s, x, mean.data(), scale.data(), shift.data(), y, threads, relu);
}

void batchnorm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y, int threads) {
  const int64_t ch = s.channels;
  std::vector<double> mean(static_cast<size_t>(ch)), scale(static_cast<size_t>(ch)), shift(static_cast<size_t>(ch));
  for (int64_t c = 0; c < ch; ++c) {
    const size_t i = static_cast<size_t>(c);
    mean[i] = running_mean[c];
    // y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta
    scale[i] = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(running_var[c]) + s.eps);
    shift[i] = beta[c];
  }
  normalise(s, x, mean.data(), scale.data(), shift.data(), y, threads);
}

void batchnorm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* gamma,
                        const float* saved_mean, const float* saved_invstd, float* dx, float* dgamma, float* dbeta,
                        int threads) {
  // With xhat = (x - mean) * invstd and N = batch * spatial per channel:
  //   dbeta  = sum dy,  dgamma = sum dy * xhat,
  //   dx     = gamma * invstd / N * (N * dy - dbeta - xhat * dgamma).
  const int64_t ch = s.channels, sp = s.spatial, planes = s.batch * ch;
  const double count = static_cast<double>(s.batch * sp);
  std::vector<double> sum_dy(static_cast<size_t>(ch)), sum_dy_xhat(static_cast<size_t>(ch));
  const auto dy_sums = plane_sums<PlaneKind::DyX>();
  parallel_for(planes * sp >= kParallelMin ? threads : 1, 0, ch, [&](int64_t c) {
    const double m = saved_mean[c], is = saved_invstd[c];
    double a = 0, b = 0;
    for (int64_t n = 0; n < s.batch; ++n) {
      const PlaneSums r = dy_sums(x + (n * ch + c) * sp, dy + (n * ch + c) * sp, sp, m, is);
      a += r.a;
      b += r.b;
    }
    sum_dy[static_cast<size_t>(c)] = a;
    sum_dy_xhat[static_cast<size_t>(c)] = b;
    dbeta[c] = static_cast<float>(a);
    dgamma[c] = static_cast<float>(b);
  });
  if (count <= 0) return;
  parallel_for(planes * sp >= kParallelMin ? threads : 1, 0, planes, [&](int64_t pl) {
    const int64_t c = pl % ch;
    const size_t ci = static_cast<size_t>(c);
    const double is = saved_invstd[c];
    bn_dx_plane(x + pl * sp, dy + pl * sp, sp, saved_mean[c], is, static_cast<double>(gamma[c]) * is / count, count,
                sum_dy[ci], sum_dy_xhat[ci], dx + pl * sp);
  });
}

}  // namespace dendrite::cpu

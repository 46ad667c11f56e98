// Batch normalisation over x[batch, channels, spatial] on the CPU (PyTorch semantics).
//
// Per-channel statistics are reduced in double by one thread per channel, over n then the
// spatial positions of each (n, channel) plane (each plane summed with a fixed interleaving),
// so results do not depend on the thread count. Mean and variance use two passes
// (var = mean((x - mean)^2)), which does not lose precision when |mean| >> std.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../common/error.h"
#include "kernels.h"

// Never contract a * b + c into an FMA: the AVX-512 clones below would then round differently
// from the portable ones.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// Per-plane loops are compiled for AVX-512, AVX2 and the baseline (GCC picks one at load time);
// they are elementwise, or keep their fixed summation order, so every clone gives the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DENDRITE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DENDRITE_CLONES
#endif

namespace dendrite::cpu {
namespace {

constexpr int64_t kParallelMin = 1 << 14;

// Plane sums: four interleaved accumulators (lane l takes elements l, l + 4, ...) combined in
// a fixed order, (acc0 + acc2) + (acc1 + acc3).
inline double combine(const double* acc) { return (acc[0] + acc[2]) + (acc[1] + acc[3]); }

// sum_i x[i] over one plane.
DENDRITE_CLONES double plane_sum(const float* x, int64_t n) {
  if (n == 1) return x[0];
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) acc[l] += static_cast<double>(x[i + l]);
  for (; i < n; ++i) acc[0] += static_cast<double>(x[i]);
  return combine(acc);
}

// sum_i (x[i] - m)^2 over one plane.
DENDRITE_CLONES double plane_sq_dev(const float* x, int64_t n, double m) {
  if (n == 1) return (static_cast<double>(x[0]) - m) * (static_cast<double>(x[0]) - m);
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) {
      const double d = static_cast<double>(x[i + l]) - m;
      acc[l] += d * d;
    }
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - m;
    acc[0] += d * d;
  }
  return combine(acc);
}

// sum_i dy[i] and sum_i dy[i] * (x[i] - m) * is over one plane, added to *a and *b.
DENDRITE_CLONES void plane_dy_sums(const float* x, const float* dy, int64_t n, double m, double is, double* a,
                                   double* b) {
  double a4[4] = {0, 0, 0, 0}, b4[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) {
      const double d = dy[i + l];
      a4[l] += d;
      b4[l] += d * ((static_cast<double>(x[i + l]) - m) * is);
    }
  for (; i < n; ++i) {
    const double d = dy[i];
    a4[0] += d;
    b4[0] += d * ((static_cast<double>(x[i]) - m) * is);
  }
  *a += combine(a4);
  *b += combine(b4);
}

// out[c] = sum_n plane(n, c) for every channel, one thread per channel block.
// plane(c, p) gives the sum over the plane p of channel c.
template <class PlaneSum>
void channel_sums(const BatchNormShape& s, const float* x, double* out, int threads, PlaneSum plane) {
  static_cast<void>(threads);  // only OpenMP pragmas use it
  const int64_t ch = s.channels, sp = s.spatial, batch = s.batch;
#pragma omp parallel for num_threads(threads) schedule(static) if (batch * ch * sp >= kParallelMin)
  for (int64_t c = 0; c < ch; ++c) {
    double acc = 0;
    for (int64_t n = 0; n < batch; ++n) acc += plane(c, x + (n * ch + c) * sp);
    out[c] = acc;
  }
}

// y = (x - m) * a + b over one plane, in double per element.
DENDRITE_CLONES void normalise_plane(const float* x, int64_t n, double m, double a, double b, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>((static_cast<double>(x[i]) - m) * a + b);
}

// y = (x - mean_c) * scale_c + shift_c, computed in double per element.
void normalise(const BatchNormShape& s, const float* x, const double* mean, const double* scale,
               const double* shift, float* y, int threads) {
  static_cast<void>(threads);  // only OpenMP pragmas use it
  const int64_t ch = s.channels, sp = s.spatial, planes = s.batch * ch;
#pragma omp parallel for num_threads(threads) schedule(static) if (planes * sp >= kParallelMin)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t c = pl % ch;
    normalise_plane(x + pl * sp, sp, mean[c], scale[c], shift[c], y + pl * sp);
  }
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
                             int threads) {
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
  channel_sums(s, x, mean.data(), threads, [sp](int64_t, const float* p) { return plane_sum(p, sp); });
  for (double& m : mean) m *= inv_count;
  channel_sums(s, x, var.data(), threads,
               [&](int64_t c, const float* p) { return plane_sq_dev(p, sp, mean[static_cast<size_t>(c)]); });
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
  normalise(s, x, mean.data(), scale.data(), shift.data(), y, threads);
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
  static_cast<void>(threads);  // only OpenMP pragmas use it
  // With xhat = (x - mean) * invstd and N = batch * spatial per channel:
  //   dbeta  = sum dy,  dgamma = sum dy * xhat,
  //   dx     = gamma * invstd / N * (N * dy - dbeta - xhat * dgamma).
  const int64_t ch = s.channels, sp = s.spatial, planes = s.batch * ch;
  const double count = static_cast<double>(s.batch * sp);
  std::vector<double> sum_dy(static_cast<size_t>(ch)), sum_dy_xhat(static_cast<size_t>(ch));
#pragma omp parallel for num_threads(threads) schedule(static) if (planes * sp >= kParallelMin)
  for (int64_t c = 0; c < ch; ++c) {
    const double m = saved_mean[c], is = saved_invstd[c];
    double a = 0, b = 0;
    for (int64_t n = 0; n < s.batch; ++n) plane_dy_sums(x + (n * ch + c) * sp, dy + (n * ch + c) * sp, sp, m, is, &a, &b);
    sum_dy[static_cast<size_t>(c)] = a;
    sum_dy_xhat[static_cast<size_t>(c)] = b;
    dbeta[c] = static_cast<float>(a);
    dgamma[c] = static_cast<float>(b);
  }
  if (count <= 0) return;
#pragma omp parallel for num_threads(threads) schedule(static) if (planes * sp >= kParallelMin)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t c = pl % ch;
    const size_t ci = static_cast<size_t>(c);
    const double is = saved_invstd[c];
    bn_dx_plane(x + pl * sp, dy + pl * sp, sp, saved_mean[c], is, static_cast<double>(gamma[c]) * is / count, count,
                sum_dy[ci], sum_dy_xhat[ci], dx + pl * sp);
  }
}

}  // namespace dendrite::cpu

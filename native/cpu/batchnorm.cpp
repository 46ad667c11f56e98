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

namespace dendrite::cpu {
namespace {

constexpr int64_t kParallelMin = 1 << 14;

// sum_i f(p[i]) over one plane, four interleaved accumulators combined in a fixed order.
template <class F>
inline double plane_sum(const float* p, int64_t n, F f) {
  if (n == 1) return f(p[0]);
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += f(p[i]);
    a1 += f(p[i + 1]);
    a2 += f(p[i + 2]);
    a3 += f(p[i + 3]);
  }
  for (; i < n; ++i) a0 += f(p[i]);
  return (a0 + a2) + (a1 + a3);
}

// out[c] = sum_n plane_sum(plane (n, c), f_c) for every channel, one thread per channel block.
// make_f(c) gives the per-channel element function.
template <class MakeF>
void channel_sums(const BatchNormShape& s, const float* x, double* out, int threads, MakeF make_f) {
  static_cast<void>(threads);  // only OpenMP pragmas use it
  const int64_t ch = s.channels, sp = s.spatial, batch = s.batch;
#pragma omp parallel for num_threads(threads) schedule(static) if (batch * ch * sp >= kParallelMin)
  for (int64_t c = 0; c < ch; ++c) {
    auto f = make_f(c);
    double acc = 0;
    for (int64_t n = 0; n < batch; ++n) acc += plane_sum(x + (n * ch + c) * sp, sp, f);
    out[c] = acc;
  }
}

// y = (x - mean_c) * scale_c + shift_c, computed in double per element.
void normalise(const BatchNormShape& s, const float* x, const double* mean, const double* scale,
               const double* shift, float* y, int threads) {
  static_cast<void>(threads);  // only OpenMP pragmas use it
  const int64_t ch = s.channels, sp = s.spatial, planes = s.batch * ch;
#pragma omp parallel for num_threads(threads) schedule(static) if (planes * sp >= kParallelMin)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t c = pl % ch;
    const double m = mean[c], a = scale[c], b = shift[c];
    const float* xp = x + pl * sp;
    float* yp = y + pl * sp;
    for (int64_t i = 0; i < sp; ++i) yp[i] = static_cast<float>((static_cast<double>(xp[i]) - m) * a + b);
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
  channel_sums(s, x, mean.data(), threads, [](int64_t) { return [](float v) { return static_cast<double>(v); }; });
  for (double& m : mean) m *= inv_count;
  channel_sums(s, x, var.data(), threads, [&](int64_t c) {
    const double m = mean[static_cast<size_t>(c)];
    return [m](float v) {
      const double d = static_cast<double>(v) - m;
      return d * d;
    };
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
    for (int64_t n = 0; n < s.batch; ++n) {
      const float* xp = x + (n * ch + c) * sp;
      const float* dp = dy + (n * ch + c) * sp;
      // Four interleaved partial sums per plane (a fixed order): short dependency chains.
      double a4[4] = {0, 0, 0, 0}, b4[4] = {0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 4 <= sp; i += 4)
        for (int l = 0; l < 4; ++l) {
          const double d = dp[i + l];
          a4[l] += d;
          b4[l] += d * ((static_cast<double>(xp[i + l]) - m) * is);
        }
      for (; i < sp; ++i) {
        const double d = dp[i];
        a4[0] += d;
        b4[0] += d * ((static_cast<double>(xp[i]) - m) * is);
      }
      a += (a4[0] + a4[2]) + (a4[1] + a4[3]);
      b += (b4[0] + b4[2]) + (b4[1] + b4[3]);
    }
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
    const double m = saved_mean[c], is = saved_invstd[c];
    const double k = static_cast<double>(gamma[c]) * is / count;
    const double sdy = sum_dy[ci], sdyx = sum_dy_xhat[ci];
    const float* xp = x + pl * sp;
    const float* dp = dy + pl * sp;
    float* out = dx + pl * sp;
    for (int64_t i = 0; i < sp; ++i) {
      const double xhat = (static_cast<double>(xp[i]) - m) * is;
      out[i] = static_cast<float>(k * (count * dp[i] - sdy - xhat * sdyx));
    }
  }
}

}  // namespace dendrite::cpu

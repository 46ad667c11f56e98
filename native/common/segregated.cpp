// Backend-neutral parts of the segregated-dendrite network: presets, validation, derived
// constants, random streams, initialisation and symmetric feedback (docs/papers.md §3, §8, §10, §15).
#include "segregated.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "cpu/kernels.h"
#include "error.h"
#include "philox.h"

namespace dendrite::seg {
namespace {

[[noreturn]] void range(const std::string& option, const std::string& message) {
  fail(ErrorKind::OutOfRange, "segregated network: option " + option + " " + message);
}

// A double as the shortest text that reads back as the same value (as JS prints it, mostly).
std::string show(double v) {
  if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

bool in_range(const OptionSpec& s, double v) {
  return std::isfinite(v) && (s.exclusive_min ? v > s.min : v >= s.min) && (s.exclusive_max ? v < s.max : v <= s.max);
}

// The range checks of the table, one overload per member type (for_each_option picks it).
void check_option(const OptionSpec& s, double v) {
  if (!in_range(s, v)) range(s.name, "must be a finite number in " + range_text(s) + ", got " + show(v));
}
void check_option(const OptionSpec& s, int64_t v) {
  if (!in_range(s, static_cast<double>(v))) range(s.name, "must be an integer in " + range_text(s) + ", got " + std::to_string(v));
}
void check_option(const OptionSpec&, bool) {}
template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
void check_option(const OptionSpec& s, E v) {
  const auto i = static_cast<int64_t>(v);
  if (i < 0 || i >= static_cast<int64_t>(s.choices.size())) range(s.name, "has no choice number " + std::to_string(i));
}
template <class T>
void check_option(const OptionSpec& s, const std::vector<T>& v) {
  if (v.empty() && !s.required) return;  // absent
  const int64_t n = static_cast<int64_t>(v.size());
  if (n < s.min_items || n > s.max_items) {
    range(s.name, "must list " + std::to_string(s.min_items) + " to " + std::to_string(s.max_items) + " values, got " +
                      std::to_string(n));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (!in_range(s, static_cast<double>(v[i]))) {
      range(s.name, "entry " + std::to_string(i) + " must be in " + range_text(s) + ", got " + show(static_cast<double>(v[i])));
    }
  }
}

// The enums follow the table's choices (enumerator i is choice i).
#define DENDRITE_SEG_CHOICE(name, type, index, choice, enumerator)                                  \
  static_assert(static_cast<int>(enumerator) == (index), "option " name ": the enumerators of " #type \
                                                          " must follow the choices of the table");
#include "segregated_options.inc"

// Initial-weight targets of docs/papers.md §10.1.
constexpr double kVAvg = 3.0, kVSd = 3.0, kBAvg = 0.8, kBSd = 0.001;
constexpr double kSpread = 3.465;  // the code's factor: 2 sqrt(3) to 0.03 %

}  // namespace

Config preset(bool spiking) {
  Config c;
#define DENDRITE_SEG_OPTION(name, member, kind, type, min, exclusive_min, max, exclusive_max, min_items, max_items, \
                            required, spiking_default, nonspiking_default)                                     \
  c.member = spiking ? type spiking_default : type nonspiking_default;
#include "segregated_options.inc"
  return c;
}

const std::vector<OptionSpec>& options() {
  static const std::vector<OptionSpec> specs = [] {
    std::vector<OptionSpec> v;
#define DENDRITE_SEG_OPTION(name, member, kind, type, min, exclusive_min, max, exclusive_max, min_items, max_items, \
                            required, spiking, nonspiking)                                                     \
  v.push_back(OptionSpec{name, OptionKind::kind, min, max, exclusive_min, exclusive_max, min_items, max_items, required, {}});
#define DENDRITE_SEG_CHOICE(name, type, index, choice, enumerator) v.back().choices.push_back(choice);
#include "segregated_options.inc"
    return v;
  }();
  return specs;
}

std::string range_text(const OptionSpec& s) {
  return (s.exclusive_min ? "(" : "[") + show(s.min) + ", " + show(s.max) + (s.exclusive_max ? ")" : "]");
}

void validate(const Config& c) {
  // Every range of the table (types are the binding's business; C++ callers cannot get them wrong).
  for_each_option(c, [](const OptionSpec& s, const auto& v) { check_option(s, v); });
  // What one option's range cannot say: the combinations.
  if (c.n_out() % 10 != 0) range("layers", "output size must be a multiple of 10 (units per class), got " + std::to_string(c.n_out()));
  if (c.tau_s == c.tau_L) range("tauS", "must differ from tauL (kernel K1 divides by tauL - tauS)");
  if (c.integration_time > std::min(c.l_f_phase, c.l_t_phase)) {
    range("integrationTime", "must not exceed the shorter training phase (" + std::to_string(std::min(c.l_f_phase, c.l_t_phase)) +
                                 " steps), got " + std::to_string(c.integration_time));
  }
  if (c.integration_time_test > c.l_test) {
    range("integrationTimeTest", "must not exceed testPhase (" + std::to_string(c.l_test) + " steps), got " +
                                     std::to_string(c.integration_time_test));
  }
  if (c.rand_plateau_times && c.integration_time + c.plateau_cap > std::min(c.l_f_phase, c.l_t_phase)) {
    range("plateauCap", "plus integrationTime must not exceed the shortest training phase (the window would leave the phase)");
  }
  if (c.noisy_symmetric && c.feedback != FeedbackKind::Symmetric) {
    range("noisySymmetric", "needs feedback \"symmetric\"");
  }
  if (c.backprop_inplace && !c.backprop) range("backpropInPlace", "needs backprop");
  if (c.f_etas.size() != c.layers.size()) {
    range("learningRates", "must give one feed-forward rate per layer (" + std::to_string(c.layers.size()) + "), got " +
                               std::to_string(c.f_etas.size()));
  }
  const size_t hidden = c.layers.size() - 1;
  if (c.feedback == FeedbackKind::Learned && c.b_etas.size() != hidden) {
    range("feedbackLearningRates", "must give one rate per hidden layer (" + std::to_string(hidden) +
                                       ") when feedback is \"learned\", got " + std::to_string(c.b_etas.size()));
  }
  if (!c.b_etas.empty() && c.b_etas.size() != hidden) {
    range("feedbackLearningRates", "must give one rate per hidden layer (" + std::to_string(hidden) + ")");
  }
  if (c.threads < 0 || c.threads > 1024) range("threads", "must be an integer in [0, 1024], got " + std::to_string(c.threads));
}

void weight_stats(double lambda_max, double N, double* W_avg, double* W_sd) {
  const double nu = lambda_max * 0.25;
  const double V_sm = kVSd * kVSd + kVAvg * kVAvg;
  const double avg = (kVAvg - kBAvg) / (nu * N * kVAvg);  // (I1)
  const double sm = (V_sm + nu * nu * (N - N * N) * avg * avg * kVAvg * kVAvg - 2 * N * nu * kBAvg * kVAvg * avg -
                     kBAvg * kBAvg) /
                    (N * nu * nu * V_sm);  // (I2)
  *W_avg = avg;
  *W_sd = std::sqrt(sm - avg * avg);  // (I3)
}

Derived derive(const Config& c) {
  Derived d;
  // (K1) the kernel at i dt, i = 1 .. mem, in double: kappa rounds each tap to float, the window
  // sums (P2) add taps lo .. hi in double first.
  std::vector<double> taps(static_cast<size_t>(c.mem));
  for (int64_t i = 1; i <= c.mem; ++i) {
    const double s = static_cast<double>(i) * c.dt;
    taps[i - 1] = (std::exp(-s / c.tau_L) - std::exp(-s / c.tau_s)) / (c.tau_L - c.tau_s);
    d.kappa.push_back(static_cast<float>(taps[i - 1]));
    d.seed_L.push_back(static_cast<float>(std::exp(-s / c.tau_L)));
    d.seed_S.push_back(static_cast<float>(std::exp(-s / c.tau_s)));
  }
  d.kappa_window.assign(static_cast<size_t>(c.mem * c.mem), 0.0f);
  for (int64_t lo = 0; lo < c.mem; ++lo) {
    double sum = 0;
    for (int64_t hi = lo; hi < c.mem; ++hi) {
      sum += taps[hi];
      d.kappa_window[lo * c.mem + hi] = static_cast<float>(sum);
    }
  }
  const double out = static_cast<double>(c.mem + 1) * c.dt;  // (K3)
  d.filter.aL = static_cast<float>(std::exp(-c.dt / c.tau_L));
  d.filter.aS = static_cast<float>(std::exp(-c.dt / c.tau_s));
  d.filter.gL = static_cast<float>(std::exp(-out / c.tau_L));
  d.filter.gS = static_cast<float>(std::exp(-out / c.tau_s));
  d.filter.c = static_cast<float>(1.0 / (c.tau_L - c.tau_s));
  d.k_B = c.g_B / (c.g_L + c.g_B + c.g_A);
  d.k_D = c.g_D / (c.g_L + c.g_D);
  d.P_hidden = 20.0 / c.lambda_max;
  d.P_final = 20.0 / (c.lambda_max * c.lambda_max);
  const int64_t M = c.num_layers();
  d.W_avg.resize(M);
  d.W_sd.resize(M);
  for (int64_t m = 0; m < M; ++m) weight_stats(c.lambda_max, static_cast<double>(c.fan_in(m)), &d.W_avg[m], &d.W_sd[m]);
  d.k_per_class = c.n_out() / 10;
  d.unit_offset.resize(M);
  d.hidden_offset.resize(M);
  int64_t off = c.n_in, hoff = 0;
  for (int64_t m = 0; m < M; ++m) {
    d.unit_offset[m] = off;
    d.hidden_offset[m] = hoff;
    off += c.layers[m];
    if (m < M - 1) hoff += c.layers[m];
  }
  d.units = off;
  return d;
}

StepParams step_params(const Config& c, const Derived& d) {
  StepParams p;
  p.lmax = static_cast<float>(c.lambda_max);
  p.kB = static_cast<float>(d.k_B);
  p.kD = static_cast<float>(d.k_D);
  p.dt = static_cast<float>(c.dt);
  p.gL = static_cast<float>(c.g_L);
  p.gB = static_cast<float>(c.g_B);
  p.gA = static_cast<float>(c.g_A);
  p.gD = static_cast<float>(c.g_D);
  p.EE = static_cast<float>(c.E_E);
  p.EI = static_cast<float>(c.E_I);
  // Non-conductance target soma (O4''): (g_D B + E) / (g_L + g_D + 1) with g_E + g_I = 1.
  p.tgt_den = static_cast<float>(c.g_L + c.g_D + 1.0);
  return p;
}

namespace {

// Fills v[i] = f(u_i) with u_i the uniform draw i of the stream.
template <class F>
void fill_uniform(std::vector<float>& v, size_t n, const RngStream& r, float low, float high, F f) {
  v.resize(n);
  cpu::uniform_run(philox::make_stream(r), 0, static_cast<int64_t>(n), low, high, v.data());  // philox::uniform_at's
  for (size_t i = 0; i < n; ++i) v[i] = f(v[i]);
}

}  // namespace

namespace {

std::vector<std::vector<int64_t>> masks_for(const Config& c, const std::vector<int64_t>& sizes) {
  std::vector<std::vector<int64_t>> masks(sizes.size());
  for (size_t m = 0; m < sizes.size(); ++m) {
    const int64_t size = sizes[m];
    const int64_t k = static_cast<int64_t>(std::floor(c.sparse_drop * static_cast<double>(size)));
    const philox::Stream s = philox::make_stream(stream_of(c.seed, kSparse, 0, m));
    std::vector<int64_t> idx(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) idx[i] = i;
    for (int64_t i = 0; i < k; ++i) {  // partial Fisher-Yates: idx[0..k) is a uniform k-subset
      const philox::Block b = philox::block_at(s, static_cast<uint64_t>(i), 0);
      const double u = philox::u53(b.x0, b.x1);
      int64_t j = i + static_cast<int64_t>(u * static_cast<double>(size - i));
      if (j >= size) j = size - 1;
      std::swap(idx[i], idx[j]);
    }
    masks[m].assign(idx.begin(), idx.begin() + k);
    std::sort(masks[m].begin(), masks[m].end());
  }
  return masks;
}

}  // namespace

std::vector<std::vector<int64_t>> sparse_masks(const Config& c) {
  std::vector<int64_t> sizes;
  for (int64_t m = 0; m + 1 < c.num_layers(); ++m) sizes.push_back(c.layers[m] * c.fb_size(m));
  return masks_for(c, sizes);
}

void apply_mask(std::vector<float>& Y, const std::vector<int64_t>& mask) {
  for (int64_t i : mask) Y[static_cast<size_t>(i)] = 0.0f;
}

void make_symmetric(const Config& c, const std::vector<std::vector<float>>& Wt, std::vector<std::vector<float>>& Y,
                    const std::vector<std::vector<int64_t>>& masks, uint64_t epoch, uint64_t example) {
  const int64_t M = c.num_layers();
  const philox::Stream noise = philox::make_stream(stream_of(c.seed, kSymNoise, epoch, example));
  const float sd = static_cast<float>(c.symmetric_noise_sd);
  std::vector<float> above;
  for (int64_t m = M - 2; m >= 0; --m) {
    // W^(m+1)^T is n_m x n_(m+1): exactly Wt[m+1] as stored.
    const int64_t rows = c.layers[m], cols = c.layers[m + 1];
    above = Wt[m + 1];
    if (c.noisy_symmetric) {
      const uint64_t base = static_cast<uint64_t>(m) << 40;
      for (int64_t i = 0; i < rows * cols; ++i) above[i] += philox::normal_at(noise, base + i, 0.0f, sd);
    }
    std::vector<float>& y = Y[m];
    if (!c.broadcast || m == M - 2) {
      y = above;
    } else {
      // Y^m = (W^(m+1)^T) Y^(m+1): n_m x n_out, summed in index order.
      const int64_t n_out = c.n_out();
      const std::vector<float>& y_above = Y[m + 1];
      y.assign(static_cast<size_t>(rows * n_out), 0.0f);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < cols; ++k) {
          const float a = above[r * cols + k];
          for (int64_t q = 0; q < n_out; ++q) y[r * n_out + q] += a * y_above[k * n_out + q];
        }
      }
    }
  }
  if (c.sparse_feedback) {
    const float gain = static_cast<float>(c.sparse_gain);
    for (int64_t m = 0; m < M - 1; ++m) {
      apply_mask(Y[m], masks[m]);
      for (float& v : Y[m]) v *= gain;
    }
  }
}

void init_weights(const Config& c, const Derived& d, std::vector<LayerWeights>& w,
                  std::vector<std::vector<int64_t>>& masks) {
  const int64_t M = c.num_layers();
  w.assign(static_cast<size_t>(M), LayerWeights{});
  const bool opt = c.init != InitKind::Plain;
  const bool design = c.init == InitKind::Design;
  auto spread = [&](double avg, double sd) {
    // realised: avg + 3.465 sd U(-1, 1); design: avg + 3.465 sd (U(0, 1) - 0.5)
    return [avg, sd, design](float u) {
      return static_cast<float>(avg + kSpread * sd * (design ? static_cast<double>(u) - 0.5 : static_cast<double>(u)));
    };
  };
  const float lo = design ? 0.0f : -1.0f;
  // docs/papers.md §10.6: for m = M-1 down to 0: W^m, b^m, then Y^(m-1), c^(m-1).
  for (int64_t m = M - 1; m >= 0; --m) {
    const int64_t n = c.layers[m], N = c.fan_in(m);
    const size_t wn = static_cast<size_t>(n * N);
    const RngStream rw = stream_of(c.seed, kInit, 0, 4 * m), rb = stream_of(c.seed, kInit, 0, 4 * m + 1);
    if (opt) {
      fill_uniform(w[m].W, wn, rw, lo, 1.0f, spread(d.W_avg[m], d.W_sd[m]));
      fill_uniform(w[m].b, n, rb, lo, 1.0f, spread(kBAvg, kBSd));
    } else {
      fill_uniform(w[m].W, wn, rw, -1.0f, 1.0f, [](float u) { return 0.1f * u; });
      fill_uniform(w[m].b, n, rb, -1.0f, 1.0f, [](float u) { return u; });
    }
    if (m == 0) continue;
    const int64_t h = m - 1;  // the hidden layer below owns Y^h (N x fb)
    const int64_t fb = c.fb_size(h);
    const RngStream ry = stream_of(c.seed, kInit, 0, 4 * h + 2), rc = stream_of(c.seed, kInit, 0, 4 * h + 3);
    if (!opt) {
      fill_uniform(w[h].Y, static_cast<size_t>(N * fb), ry, -1.0f, 1.0f, [](float u) { return u; });
      if (c.feedback_bias) fill_uniform(w[h].c, N, rc, -1.0f, 1.0f, [](float u) { return u; });
    } else if (design && c.broadcast) {
      // Zero-mean R (N x n_m, sd W_sd of layer m) times the feedback of the layer above
      // (identity above the top hidden layer): Y^h = R Y^m.
      std::vector<float> R;
      fill_uniform(R, static_cast<size_t>(N * n), ry, 0.0f, 1.0f, spread(0.0, d.W_sd[m]));
      if (m == M - 1) {
        w[h].Y = R;
      } else {
        const int64_t n_out = c.n_out();
        const std::vector<float>& ya = w[m].Y;
        w[h].Y.assign(static_cast<size_t>(N * n_out), 0.0f);
        for (int64_t r = 0; r < N; ++r)
          for (int64_t k = 0; k < n; ++k)
            for (int64_t q = 0; q < n_out; ++q) w[h].Y[r * n_out + q] += R[r * n + k] * ya[k * n_out + q];
      }
      if (c.feedback_bias) fill_uniform(w[h].c, N, rc, 0.0f, 1.0f, spread(kBAvg, kBSd));
    } else {
      fill_uniform(w[h].Y, static_cast<size_t>(N * fb), ry, lo, 1.0f, spread(d.W_avg[m], d.W_sd[m]));
      if (c.feedback_bias) fill_uniform(w[h].c, N, rc, lo, 1.0f, spread(kBAvg, kBSd));
    }
  }
  masks.assign(static_cast<size_t>(M > 0 ? M - 1 : 0), {});
  if (c.sparse_feedback) masks = sparse_masks(c);
  std::vector<std::vector<float>> Y(static_cast<size_t>(M - 1));
  for (int64_t m = 0; m < M - 1; ++m) Y[m] = w[m].Y;
  if (c.feedback == FeedbackKind::Symmetric && M > 1) {
    std::vector<std::vector<float>> Wt(static_cast<size_t>(M));
    for (int64_t m = 1; m < M; ++m) Wt[m] = transposed(w[m].W, c.layers[m], c.fan_in(m));
    make_symmetric(c, Wt, Y, masks, kInitEpoch, 0);  // includes masks and gain
  } else if (c.sparse_feedback) {
    const float gain = static_cast<float>(c.sparse_gain);
    for (int64_t m = 0; m < M - 1; ++m) {
      apply_mask(Y[m], masks[m]);
      for (float& v : Y[m]) v *= gain;  // once, at initialisation
    }
  }
  for (int64_t m = 0; m < M - 1; ++m) w[m].Y = Y[m];
}

std::vector<int32_t> permutation(uint64_t seed, uint64_t epoch, int64_t n) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int32_t>(i);
  const philox::Stream s = philox::make_stream(stream_of(seed, kShuffle, epoch, 0));
  for (int64_t i = n - 1; i > 0; --i) {
    const philox::Block b = philox::block_at(s, static_cast<uint64_t>(i), 0);
    int64_t j = static_cast<int64_t>(philox::u53(b.x0, b.x1) * static_cast<double>(i + 1));
    if (j > i) j = i;
    std::swap(p[i], p[j]);
  }
  return p;
}

int64_t phase_length(const Config& c, uint64_t epoch, uint64_t example, int phase) {
  const int64_t base = phase == 0 ? c.l_f_phase : c.l_t_phase;
  if (!c.rand_phase_lengths) return base;
  const philox::Stream s = philox::make_stream(stream_of(c.seed, kPhase, epoch, example));
  const float w = philox::wald_at(s, static_cast<uint64_t>(phase), static_cast<float>(c.wald_mean),
                                  static_cast<float>(c.wald_scale));
  // floor(Wald), capped far beyond anything the distribution produces in practice.
  const double extra = std::min(std::floor(static_cast<double>(w)), 100000.0);
  return base + static_cast<int64_t>(extra);
}

int64_t plateau_offset(const Config& c, uint64_t epoch, uint64_t example, int phase, int64_t hidden_unit) {
  if (!c.rand_plateau_times) return 0;
  const philox::Stream s = philox::make_stream(stream_of(c.seed, kPlateau, epoch, example));
  const float z = philox::normal_at(s, (static_cast<uint64_t>(phase) << 40) + static_cast<uint64_t>(hidden_unit), 0.0f,
                                    static_cast<float>(c.plateau_sd));
  const double d = std::floor(std::fabs(static_cast<double>(z)));
  return static_cast<int64_t>(std::min(d, static_cast<double>(c.plateau_cap)));
}

std::vector<float> transposed(const std::vector<float>& a, int64_t rows, int64_t cols) {
  std::vector<float> t(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k) t[k * rows + r] = a[r * cols + k];
  return t;
}

void check_weights(const Config& c, const std::vector<LayerWeights>& w) {
  const int64_t M = static_cast<int64_t>(c.num_layers());
  if (static_cast<int64_t>(w.size()) != M) fail(ErrorKind::OutOfRange, "setWeights: expected " + std::to_string(M) + " layers");
  for (int64_t m = 0; m < M; ++m) {
    const int64_t n = c.layers[m], N = c.fan_in(m);
    const std::string at = "setWeights: layer " + std::to_string(m) + " ";
    if (static_cast<int64_t>(w[m].W.size()) != n * N) fail(ErrorKind::OutOfRange, at + "W must have " + std::to_string(n * N) + " values");
    if (static_cast<int64_t>(w[m].b.size()) != n) fail(ErrorKind::OutOfRange, at + "b must have " + std::to_string(n) + " values");
    if (m < M - 1) {
      const int64_t ny = n * c.fb_size(m);
      if (static_cast<int64_t>(w[m].Y.size()) != ny) fail(ErrorKind::OutOfRange, at + "Y must have " + std::to_string(ny) + " values");
      const int64_t nc = c.feedback_bias ? n : 0;
      if (static_cast<int64_t>(w[m].c.size()) != nc) fail(ErrorKind::OutOfRange, at + "c must have " + std::to_string(nc) + " values");
    } else if (!w[m].Y.empty() || !w[m].c.empty()) {
      fail(ErrorKind::OutOfRange, at + "(the output layer) has no Y or c");
    }
    for (const std::vector<float>* v : {&w[m].W, &w[m].b, &w[m].Y, &w[m].c}) {
      for (float x : *v) {
        if (!std::isfinite(x)) fail(ErrorKind::OutOfRange, at + "weights must be finite");
      }
    }
  }
}

}  // namespace dendrite::seg

// SGD and Adam updates; the random number generators.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../common/philox.h"
#include "../common/staging.h"
#include "../cpu/kernels.h"
#include "checks.h"
#include "reference.h"

namespace dendrite::test {
namespace {

// Optimisers: relative 1e-5 of the magnitudes of the terms of each update (so cancellation in
// p - lr * step or in the moment updates does not make the bound meaningless).
DVec optim_tol(const DVec& mag) { return rel_tol(mag, 1e-5, 0.0); }

void sgd_case(Checker& ck, const Mode& mode, Inputs& in, size_t n, float lr, float momentum, float wd) {
  SgdParams p;
  p.lr = lr;
  p.momentum = momentum;
  p.weight_decay = wd;
  const Vec param0 = in.normal(n, 0, 1), grad = in.normal(n, 0, 1);
  const Vec vel0 = momentum != 0 ? in.normal(n, 0, 0.5f) : Vec();
  char name[128];
  std::snprintf(name, sizeof name, " sgd_update n=%zu lr=%g momentum=%g weight_decay=%g", n, lr, momentum, wd);
  ck.run(mode.prefix + name, [&] {
    const ref::Optim r = ref::sgd(p, param0, grad, vel0);
    std::vector<Expect> expects = {Expect{r.param.val, optim_tol(r.param.mag)}};
    if (momentum != 0) expects.push_back(Expect{r.v.val, optim_tol(r.v.mag)});
    return verify(
        mode,
        [&](Backend& be) {
          Vec param = param0, vel = vel0;
          HostStaging st(be);
          be.sgd_update(static_cast<int64_t>(n), p, st.inout(param.data(), n), st.in(grad.data(), n),
                        momentum != 0 ? st.inout(vel.data(), n) : nullptr);
          st.finish();
          std::vector<Output> out = {output("param", param)};
          if (momentum != 0) out.push_back(output("velocity", vel));
          return out;
        },
        expects);
  });
}

void adam_case(Checker& ck, const Mode& mode, Inputs& in, size_t n, int64_t step, float lr, float wd) {
  AdamParams p;
  p.lr = lr;
  p.weight_decay = wd;
  p.step = step;
  const Vec param0 = in.normal(n, 0, 1), grad = in.normal(n, 0, 1);
  // The first step starts from zero moments, later ones from what earlier steps left.
  const Vec m0 = step == 1 ? Vec(n, 0.0f) : in.normal(n, 0, 0.1f);
  const Vec v0 = step == 1 ? Vec(n, 0.0f) : in.uniform(n, 0, 0.01f);
  char name[128];
  std::snprintf(name, sizeof name, " adam_update n=%zu step=%lld lr=%g weight_decay=%g", n,
                static_cast<long long>(step), lr, wd);
  ck.run(mode.prefix + name, [&] {
    const ref::Optim r = ref::adam(p, param0, grad, m0, v0);
    return verify(
        mode,
        [&](Backend& be) {
          Vec param = param0, m = m0, v = v0;
          HostStaging st(be);
          be.adam_update(static_cast<int64_t>(n), p, st.inout(param.data(), n), st.in(grad.data(), n),
                         st.inout(m.data(), n), st.inout(v.data(), n));
          st.finish();
          return std::vector<Output>{output("param", param), output("m", m), output("v", v)};
        },
        {Expect{r.param.val, optim_tol(r.param.mag)}, Expect{r.m.val, optim_tol(r.m.mag)},
         Expect{r.v.val, optim_tol(r.v.mag)}});
  });
}

// ---- random numbers ----

enum class Dist { Uniform, Normal, Bernoulli, Poisson, Wald };
const Dist kDists[] = {Dist::Uniform, Dist::Normal, Dist::Bernoulli, Dist::Poisson, Dist::Wald};

const char* dist_name(Dist d) {
  switch (d) {
    case Dist::Uniform: return "uniform";
    case Dist::Normal: return "normal";
    case Dist::Bernoulli: return "bernoulli";
    case Dist::Poisson: return "poisson";
    case Dist::Wald: return "wald";
  }
  return "?";
}

constexpr float kLow = -2.0f, kHigh = 3.0f;      // uniform
constexpr float kMean = 1.0f, kStd = 2.0f;       // normal
constexpr float kWaldMean = 1.5f, kWaldShape = 2.0f;

// Per-element parameters of the Bernoulli (p) and Poisson (rate) draws: every regime, with
// the exact ends (p = 0, 1; rate = 0).
Vec bernoulli_p(size_t n) {
  Vec p(n);
  for (size_t i = 0; i < n; ++i) p[i] = i % 7 == 0 ? 0.0f : i % 7 == 1 ? 1.0f : static_cast<float>(i % 101) / 101.0f;
  return p;
}
Vec poisson_rate(size_t n) {
  static const float rates[] = {0.0f, 0.05f, 0.5f, 3.0f, 9.5f, 20.0f, 200.0f, 5000.0f};
  Vec r(n);
  for (size_t i = 0; i < n; ++i) r[i] = rates[i % 8];
  return r;
}

// Draws n values of `d` from stream r on `be`; `first` is the index of the first drawn element
// within the per-element parameter arrays (for slices).
Output draw(Backend& be, Dist d, const RngStream& r, size_t n, size_t first = 0) {
  HostStaging st(be);
  const int64_t count = static_cast<int64_t>(n);
  switch (d) {
    case Dist::Uniform: {
      Vec out(n, NAN);
      be.random_uniform(r, count, kLow, kHigh, st.out(out.data(), n));
      st.finish();
      return output("uniform", out);
    }
    case Dist::Normal: {
      Vec out(n, NAN);
      be.random_normal(r, count, kMean, kStd, st.out(out.data(), n));
      st.finish();
      return output("normal", out);
    }
    case Dist::Bernoulli: {
      const Vec all = bernoulli_p(first + n);
      const Vec p(all.begin() + static_cast<std::ptrdiff_t>(first), all.end());
      std::vector<uint8_t> out(n, 7);
      be.random_bernoulli(r, count, st.in(p.data(), n), st.out(out.data(), n));
      st.finish();
      return output("bernoulli", out);
    }
    case Dist::Poisson: {
      const Vec all = poisson_rate(first + n);
      const Vec rate(all.begin() + static_cast<std::ptrdiff_t>(first), all.end());
      std::vector<int32_t> out(n, -1);
      be.random_poisson(r, count, st.in(rate.data(), n), st.out(out.data(), n));
      st.finish();
      return output("poisson", out);
    }
    case Dist::Wald: {
      Vec out(n, NAN);
      be.random_wald(r, count, kWaldMean, kWaldShape, st.out(out.data(), n));
      st.finish();
      return output("wald", out);
    }
  }
  return Output();
}

// Loose checks that the draws follow their distribution: support, and the sample mean within
// 5 standard errors (variance within 10% for the normal). Inputs are fixed, so these are
// deterministic; a correct generator fails them with probability about 1e-6.
std::string sanity(Dist d, const Output& o) {
  const DVec& v = o.values;
  const double n = static_cast<double>(v.size());
  double sum = 0, sq = 0;
  for (double x : v) {
    sum += x;
    sq += x * x;
  }
  const double mean = sum / n;
  auto off = [&](double want, double sd, const char* what) -> std::string {
    if (std::fabs(mean - want) <= 5 * sd / std::sqrt(n)) return "";
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: sample mean %.6g, expected %.6g +- %.3g", what, mean, want,
                  5 * sd / std::sqrt(n));
    return buf;
  };
  switch (d) {
    case Dist::Uniform:
      for (double x : v)
        if (!(x >= kLow && x < kHigh)) return "uniform value " + std::to_string(x) + " outside [low, high)";
      return off((kLow + kHigh) / 2, (kHigh - kLow) / std::sqrt(12.0), "uniform");
    case Dist::Normal: {
      for (double x : v)
        if (!std::isfinite(x)) return "normal value not finite";
      const double var = sq / n - mean * mean;
      if (std::fabs(var / (kStd * kStd) - 1) > 0.1) return "normal: sample variance " + std::to_string(var);
      return off(kMean, kStd, "normal");
    }
    case Dist::Bernoulli: {
      const Vec p = bernoulli_p(v.size());
      double want = 0, var = 0;
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] != 0 && v[i] != 1) return "bernoulli value " + std::to_string(v[i]) + " is not 0 or 1";
        if ((p[i] == 0 && v[i] != 0) || (p[i] == 1 && v[i] != 1)) return "bernoulli ignores p = 0 or p = 1";
        want += p[i];
        var += p[i] * (1 - p[i]);
      }
      if (std::fabs(sum - want) > 5 * std::sqrt(var)) return "bernoulli: " + std::to_string(sum) + " ones, expected about " + std::to_string(want);
      return "";
    }
    case Dist::Poisson: {
      const Vec rate = poisson_rate(v.size());
      double want = 0;
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] < 0) return "poisson value is negative";
        if (rate[i] == 0 && v[i] != 0) return "poisson with rate 0 is not 0";
        want += rate[i];
      }
      if (std::fabs(sum - want) > 5 * std::sqrt(want)) return "poisson: total " + std::to_string(sum) + ", expected about " + std::to_string(want);
      return "";
    }
    case Dist::Wald:
      for (double x : v)
        if (!(x > 0) || !std::isfinite(x)) return "wald value " + std::to_string(x) + " is not positive";
      return off(kWaldMean, std::sqrt(kWaldMean * kWaldMean * kWaldMean / kWaldShape), "wald");
  }
  return "";
}

RngStream stream_at(uint64_t offset) {
  RngStream r;
  r.seed = 0x5eed1234abcdULL;
  r.stream = 3;
  r.offset = offset;
  return r;
}

}  // namespace

void check_optim(Checker& ck, const Mode& mode, bool device) {
  Inputs in(5005);
  const size_t n = device ? 1000003 : 1037;
  sgd_case(ck, mode, in, n, 0.1f, 0.0f, 0.0f);
  sgd_case(ck, mode, in, n, 0.05f, 0.9f, 0.0f);
  sgd_case(ck, mode, in, n, 0.01f, 0.9f, 1e-2f);
  sgd_case(ck, mode, in, 1, 0.01f, 0.5f, 1e-3f);
  adam_case(ck, mode, in, n, 1, 1e-3f, 0.0f);
  adam_case(ck, mode, in, n, 10, 1e-2f, 1e-2f);
  adam_case(ck, mode, in, 3, 1000, 1e-3f, 0.0f);
}

void check_random_cpu(Checker& ck) {
  ck.run("philox4x32-10 known-answer vectors (Random123)", [] {
    const int failures = philox::known_answer_failures();
    return failures == 0 ? std::string() : std::to_string(failures) + " of 3 vectors differ";
  });
  ck.run("cpu uniform_run gives philox::uniform_at's bits (vectorised: ranges near rounding up to high)", [] {
    struct Range {
      float low, high;
    };
    // the last two: low + (high - low) u rounds up to high for the top u, which takes the float below
    const Range ranges[] = {{0.0f, 1.0f}, {-1.0f, 1.0f}, {-3.5f, 1e-3f}, {0.99999994f, 1.0f}, {-1.0f, -0.99999994f}};
    const philox::Stream s = philox::make_stream(stream_at(11));
    const int64_t n = 1003, i0 = 5;  // (not whole vectors, nor from a multiple of 16)
    for (const Range& r : ranges) {
      std::vector<float> got(n);
      cpu::uniform_run(s, i0, n, r.low, r.high, got.data());
      for (int64_t i = 0; i < n; ++i) {
        const float want = philox::uniform_at(s, static_cast<uint64_t>(i0 + i), r.low, r.high);
        if (std::memcmp(&want, &got[i], sizeof want) != 0) {
          char text[160];
          std::snprintf(text, sizeof text, "range [%.9g, %.9g), element %lld: %.9g, uniform_at gives %.9g",
                        static_cast<double>(r.low), static_cast<double>(r.high), static_cast<long long>(i),
                        static_cast<double>(got[i]), static_cast<double>(want));
          return std::string(text);
        }
      }
    }
    return std::string();
  });
  const size_t n = 10007;
  for (Dist d : kDists) {
    ck.run(std::string("cpu random_") + dist_name(d) + " threads 1 and 2 identical", [&] {
      auto one = make_cpu_backend(1), two = make_cpu_backend(2);
      const Output a = draw(*one, d, stream_at(5), n), b = draw(*two, d, stream_at(5), n);
      if (a.bits != b.bits) return same_bits(a.name + " (1 vs 2 threads)", a, b);
      return sanity(d, a);
    });
    ck.run(std::string("cpu random_") + dist_name(d) + " slice equals the stream", [&] {
      // Element i uses counter offset + i: drawing from offset 37 gives the tail of a draw from 0.
      auto be = make_cpu_backend(2);
      const Output whole = draw(*be, d, stream_at(0), 1000), tail = draw(*be, d, stream_at(37), 963, 37);
      Output want;
      want.name = whole.name;
      const size_t width = whole.bits.size() / 1000;
      want.values.assign(whole.values.begin() + 37, whole.values.end());
      want.bits.assign(whole.bits.begin() + static_cast<std::ptrdiff_t>(37 * width), whole.bits.end());
      return same_bits(whole.name + " slice", want, tail);
    });
  }
}

void check_random_cuda(Checker& ck, Backend& cuda, Backend& cpu) {
  for (Dist d : kDists) {
    for (size_t n : {size_t(1), size_t(17), size_t(1000003)}) {
      ck.run(std::string("cuda random_") + dist_name(d) + " n=" + std::to_string(n) + " bit-identical to cpu", [&] {
        const RngStream r = stream_at(12345);
        const Output a = draw(cuda, d, r, n), b = draw(cuda, d, r, n), c = draw(cpu, d, r, n);
        std::string p = same_bits(a.name, a, b);
        if (!p.empty()) return p;
        if (a.bits != c.bits) {
          size_t i = 0;
          while (i < a.values.size() && a.values[i] == c.values[i]) ++i;
          char buf[160];
          std::snprintf(buf, sizeof buf, "%s differs from cpu at [%zu]: %.9g vs %.9g", a.name.c_str(), i,
                        i < a.values.size() ? a.values[i] : NAN, i < c.values.size() ? c.values[i] : NAN);
          return std::string(buf);
        }
        return std::string();
      });
    }
  }
}

}  // namespace dendrite::test

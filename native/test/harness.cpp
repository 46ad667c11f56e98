#include "harness.h"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <exception>

namespace dendrite::test {

void Checker::run(const std::string& name, const std::function<std::string()>& body) {
  std::string problem;
  try {
    problem = body();
  } catch (const std::exception& e) {
    problem = std::string("threw: ") + e.what();
  } catch (...) {
    problem = "threw a non-standard exception";
  }
  if (problem.empty()) {
    ++passed_;
    std::printf("ok %s\n", name.c_str());
  } else {
    ++failed_;
    std::printf("FAILED %s: %s\n", name.c_str(), problem.c_str());
  }
  std::fflush(stdout);
}

void Checker::note(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

Vec Inputs::uniform(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  Vec v(n);
  for (auto& x : v) x = d(gen_);
  return v;
}

Vec Inputs::normal(size_t n, float mean, float stddev) {
  std::normal_distribution<float> d(mean, stddev);
  Vec v(n);
  for (auto& x : v) x = d(gen_);
  return v;
}

std::vector<int32_t> Inputs::labels(size_t n, int32_t classes) {
  std::uniform_int_distribution<int32_t> d(0, classes - 1);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(gen_);
  return v;
}

Vec Inputs::coarse(size_t n, float lo, float hi, float step) {
  const int steps = static_cast<int>((hi - lo) / step);
  std::uniform_int_distribution<int> d(0, steps);
  Vec v(n);
  for (auto& x : v) x = lo + step * static_cast<float>(d(gen_));
  return v;
}

std::string compare(const std::string& what, const DVec& got, const DVec& want, const DVec& tol) {
  if (got.size() != want.size()) {
    return what + ": " + std::to_string(got.size()) + " values, expected " + std::to_string(want.size());
  }
  size_t bad = 0, worst = 0;
  double worst_ratio = -1.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(got[i] - want[i]);
    if (got[i] == want[i] || diff <= tol[i]) continue;  // written so that a NaN fails
    ++bad;
    const double ratio = std::isnan(diff) ? INFINITY : (tol[i] > 0 ? diff / tol[i] : INFINITY);
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  if (bad == 0) return "";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s[%zu] = %.9g, expected %.9g (tolerance %.3g); %zu of %zu off", what.c_str(),
                worst, got[worst], want[worst], tol[worst], bad, got.size());
  return buf;
}

std::string same_bits(const std::string& what, const Output& a, const Output& b) {
  if (a.bits == b.bits) return "";
  size_t first = 0;
  while (first < a.values.size() && first < b.values.size() &&
         std::memcmp(&a.values[first], &b.values[first], sizeof(double)) == 0) {
    ++first;
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s differs between two identical runs (first at [%zu]: %.9g vs %.9g)",
                what.c_str(), first, first < a.values.size() ? a.values[first] : NAN,
                first < b.values.size() ? b.values[first] : NAN);
  return buf;
}

DVec sum_tol(const DVec& mag, double terms) {
  const double f = 2.0 * FLT_EPSILON * std::sqrt(terms < 1.0 ? 1.0 : terms);
  DVec t(mag.size());
  for (size_t i = 0; i < mag.size(); ++i) t[i] = f * mag[i];
  return t;
}

DVec rel_tol(const DVec& want, double rtol, double atol) {
  DVec t(want.size());
  for (size_t i = 0; i < want.size(); ++i) t[i] = rtol * std::fabs(want[i]) + atol;
  return t;
}

DVec zeros_like(const DVec& v) { return DVec(v.size(), 0.0); }

DVec scaled(DVec tol, double factor) {
  for (auto& t : tol) t *= factor;
  return tol;
}

DVec to_dvec(const Vec& v) { return DVec(v.begin(), v.end()); }

std::string verify(const Mode& mode, const RunFn& run, const std::vector<Expect>& expects) {
  const std::vector<Output> first = run(*mode.test);
  const std::vector<Output> second = run(*mode.test);
  if (first.size() != expects.size()) return "internal: outputs and expectations differ in number";
  for (size_t i = 0; i < first.size(); ++i) {
    std::string p = same_bits(first[i].name, first[i], second[i]);
    if (!p.empty()) return p;
  }
  if (mode.cpu == nullptr) {
    for (size_t i = 0; i < first.size(); ++i) {
      std::string p = compare(first[i].name, first[i].values, expects[i].want, expects[i].tol);
      if (!p.empty()) return p;
    }
    return "";
  }
  const std::vector<Output> cpu = run(*mode.cpu);
  for (size_t i = 0; i < first.size(); ++i) {
    std::string p =
        compare(first[i].name + " (vs cpu)", first[i].values, cpu[i].values, scaled(expects[i].tol, 2.0));
    if (!p.empty()) return p;
  }
  return "";
}

}  // namespace dendrite::test

// The native test program's harness: named checks that report "ok name" or "FAILED name: detail"
// (exceptions included), comparisons with stated tolerances, and seeded random inputs.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../common/backend.h"

namespace dendrite::test {

using Vec = std::vector<float>;
using DVec = std::vector<double>;

class Checker {
 public:
  // Runs one check: `body` returns "" when it passes, else what went wrong. An exception (for
  // example "not implemented yet" from a kernel) is a failure with its message, never a crash.
  void run(const std::string& name, const std::function<std::string()>& body);
  void note(const std::string& line);
  int passed() const { return passed_; }
  int failed() const { return failed_; }

 private:
  int passed_ = 0, failed_ = 0;
};

// Seeded inputs, so every run of the program tests the same values.
class Inputs {
 public:
  explicit Inputs(uint64_t seed) : gen_(seed) {}
  Vec uniform(size_t n, float lo, float hi);
  Vec normal(size_t n, float mean, float stddev);
  std::vector<int32_t> labels(size_t n, int32_t classes);
  // Values on a coarse grid (multiples of `step` in [lo, hi]), so that ties are frequent.
  Vec coarse(size_t n, float lo, float hi, float step);

 private:
  std::mt19937_64 gen_;
};

// One output of a kernel run: its values (exact in double) and its raw bytes (for the
// bit-for-bit determinism checks).
struct Output {
  std::string name;
  DVec values;
  std::vector<unsigned char> bits;
};

template <class T>
Output output(const std::string& name, const std::vector<T>& v) {
  Output o;
  o.name = name;
  o.values.assign(v.begin(), v.end());
  o.bits.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(o.bits.data(), v.data(), o.bits.size());
  return o;
}

// What an output should be: `want` within `tol` elementwise (tol 0: exactly).
struct Expect {
  DVec want;
  DVec tol;
};

// "" when |got[i] - want[i]| <= tol[i] for all i (a NaN never passes), else the worst element
// and how many are off.
std::string compare(const std::string& what, const DVec& got, const DVec& want, const DVec& tol);
// "" when both runs produced the same bytes.
std::string same_bits(const std::string& what, const Output& a, const Output& b);

// Tolerances (see main.cpp for why each is what it is).
// A sum of `terms` float32 products whose absolute values add up to mag[i]:
// 2 * FLT_EPSILON * sqrt(terms) * mag[i].
DVec sum_tol(const DVec& mag, double terms);
// rtol * |want[i]| + atol.
DVec rel_tol(const DVec& want, double rtol, double atol);
DVec zeros_like(const DVec& v);
DVec scaled(DVec tol, double factor);
DVec to_dvec(const Vec& v);
template <class T>
DVec to_dvec(const std::vector<T>& v) {
  return DVec(v.begin(), v.end());
}

// How a kernel is checked. On the CPU backend (cpu == nullptr): against the double-precision
// reference within `tol`. On CUDA: against the CPU backend's result on the same inputs within
// 2 * tol (both sides carry float32 error; exact outputs stay exact). Both: two runs on the
// tested backend must be bit-identical.
struct Mode {
  Backend* test = nullptr;
  Backend* cpu = nullptr;
  std::string prefix;  // "cpu" or "cuda"
};

using RunFn = std::function<std::vector<Output>(Backend&)>;

std::string verify(const Mode& mode, const RunFn& run, const std::vector<Expect>& expects);

}  // namespace dendrite::test

// randomUniform, randomNormal, randomBernoulli, randomPoisson, randomWald: counter-based
// (Philox4x32-10) draws of a stream { seed, stream, offset }; see native/common/philox.h.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <string>

#include "args.h"
#include "bindings.h"
#include "common/philox.h"
#include "common/staging.h"
#include "worker.h"

namespace dendrite::bindings {
namespace {

constexpr int64_t kMaxN = int64_t{1} << 31;
constexpr double kFloatMax = FLT_MAX;

// The keys every random function accepts, then its own.
#define RNG_KEYS "seed", "stream", "offset", "device", "threads"

RngStream rng_stream(const Args& args) {
  RngStream r;
  r.seed = args.u64("seed");
  r.stream = args.u64_or("stream", 0);
  r.offset = args.u64_or("offset", 0);
  return r;
}

std::string show(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A float that must be > 0 once rounded to float32.
float positive(const Args& args, const char* key) {
  const float v = args.number(key, 0.0, kFloatMax);
  if (!(v > 0.0f)) args.range_error(key, "must be > 0 (as a float32)");
  return v;
}

// randomUniform({ seed, stream?, offset?, n, low? = 0, high? = 1, device?, threads? })
// -> Promise<Float32Array> of n values uniform on [low, high).
Napi::Value random_uniform(const Napi::CallbackInfo& info) {
  Args args(info, "randomUniform", {RNG_KEYS, "n", "low", "high"});
  const RngStream r = rng_stream(args);
  const int64_t n = args.integer("n", 0, kMaxN);
  const float low = args.number_or("low", 0.0f, -kFloatMax, kFloatMax);
  const float high = args.number_or("high", 1.0f, -kFloatMax, kFloatMax);
  if (!(low < high)) {
    args.range_error("high", "must be greater than low (as float32), got low " + show(low) + ", high " + show(high));
  }
  const Target target = args.target(kWorkPerElement * static_cast<double>(n));

  const Buffer<float> out = Buffer<float>::zeros(static_cast<size_t>(n));
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        float* d = st.out(out.data(), static_cast<size_t>(n));
        be.random_uniform(r, n, low, high, d);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

// randomNormal({ seed, stream?, offset?, n, mean? = 0, std? = 1, device?, threads? })
// -> Promise<Float32Array> of n values N(mean, std^2).
Napi::Value random_normal(const Napi::CallbackInfo& info) {
  Args args(info, "randomNormal", {RNG_KEYS, "n", "mean", "std"});
  const RngStream r = rng_stream(args);
  const int64_t n = args.integer("n", 0, kMaxN);
  const float mean = args.number_or("mean", 0.0f, -kFloatMax, kFloatMax);
  const float stddev = args.number_or("std", 1.0f, 0.0, kFloatMax);
  // Normal, Poisson and Wald draws call log/exp/sqrt: counted as 4 elements each.
  const Target target = args.target(4.0 * kWorkPerElement * static_cast<double>(n));

  const Buffer<float> out = Buffer<float>::zeros(static_cast<size_t>(n));
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        float* d = st.out(out.data(), static_cast<size_t>(n));
        be.random_normal(r, n, mean, stddev, d);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

// randomBernoulli({ seed, stream?, offset?, p, device?, threads? })
// -> Promise<Uint8Array> with out[i] = 1 with probability p[i] (each in [0, 1]), else 0.
Napi::Value random_bernoulli(const Napi::CallbackInfo& info) {
  Args args(info, "randomBernoulli", {RNG_KEYS, "p"});
  const RngStream r = rng_stream(args);
  auto p = args.float32_any("p", static_cast<size_t>(kMaxN));
  for (size_t i = 0; i < p.length; ++i) {
    if (!(p.data[i] >= 0.0f && p.data[i] <= 1.0f)) {
      args.range_error("p[" + std::to_string(i) + "]", "must be in [0, 1], got " + show(p.data[i]));
    }
  }
  const Target target = args.target(kWorkPerElement * 2.0 * static_cast<double>(p.length));

  const size_t n = p.length;
  const Buffer<uint8_t> out = Buffer<uint8_t>::zeros(n);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        const float* dp = st.in(p.data, n);
        uint8_t* d = st.out(out.data(), n);
        be.random_bernoulli(r, static_cast<int64_t>(n), dp, d);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

// randomPoisson({ seed, stream?, offset?, rate, device?, threads? })
// -> Promise<Int32Array> with out[i] ~ Poisson(rate[i]), each rate finite in [0, 1e9].
Napi::Value random_poisson(const Napi::CallbackInfo& info) {
  Args args(info, "randomPoisson", {RNG_KEYS, "rate"});
  const RngStream r = rng_stream(args);
  auto rate = args.float32_any("rate", static_cast<size_t>(kMaxN));
  for (size_t i = 0; i < rate.length; ++i) {
    const float v = rate.data[i];
    if (!(v >= 0.0f && static_cast<double>(v) <= philox::kPoissonMaxRate)) {
      args.range_error("rate[" + std::to_string(i) + "]",
                       "must be finite and in [0, " + show(philox::kPoissonMaxRate) + "], got " + show(v));
    }
  }
  const Target target = args.target(4.0 * kWorkPerElement * 2.0 * static_cast<double>(rate.length));

  const size_t n = rate.length;
  const Buffer<int32_t> out = Buffer<int32_t>::zeros(n);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        const float* dr = st.in(rate.data, n);
        int32_t* d = st.out(out.data(), n);
        be.random_poisson(r, static_cast<int64_t>(n), dr, d);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

// randomWald({ seed, stream?, offset?, n, mean, shape, device?, threads? })
// -> Promise<Float32Array> of n inverse Gaussian values (mean > 0, shape lambda > 0).
Napi::Value random_wald(const Napi::CallbackInfo& info) {
  Args args(info, "randomWald", {RNG_KEYS, "n", "mean", "shape"});
  const RngStream r = rng_stream(args);
  const int64_t n = args.integer("n", 0, kMaxN);
  const float mean = positive(args, "mean");
  const float shape = positive(args, "shape");
  const Target target = args.target(4.0 * kWorkPerElement * static_cast<double>(n));

  const Buffer<float> out = Buffer<float>::zeros(static_cast<size_t>(n));
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        float* d = st.out(out.data(), static_cast<size_t>(n));
        be.random_wald(r, n, mean, shape, d);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

#undef RNG_KEYS

}  // namespace

void register_random(Napi::Env env, Napi::Object exports) {
  exports.Set("randomUniform", Napi::Function::New<guarded<random_uniform>>(env, "randomUniform"));
  exports.Set("randomNormal", Napi::Function::New<guarded<random_normal>>(env, "randomNormal"));
  exports.Set("randomBernoulli", Napi::Function::New<guarded<random_bernoulli>>(env, "randomBernoulli"));
  exports.Set("randomPoisson", Napi::Function::New<guarded<random_poisson>>(env, "randomPoisson"));
  exports.Set("randomWald", Napi::Function::New<guarded<random_wald>>(env, "randomWald"));
}

}  // namespace dendrite::bindings

// SegregatedNetwork: the segregated-dendrite simulator (native/common/segregated.h) as a JS class.
//
//   new SegregatedNetwork(options)            options: see OPTION_KEYS below (validated here)
//   net.trainChunk({ images, labels, order, batchSize?, recordAngle?, record? })
//       -> Promise<{ loss: Float32Array, prediction: Int32Array, angle?: Float32Array, record? }>
//   net.evaluate({ images, count, round?, voltages?, record? }) -> Promise<{ prediction, voltages?, record? }>
//   record = { examples: number[] (positions in the chunk / image indices, increasing),
//              units?: number[][] (per layer; default its first min(4, n) units), voltages?,
//              phaseTimes?, plateauTimes? (training only) }
//   -> { stepOffsets: Int32Array, layers: [{ A? (hidden), B, C, lambda: Float32Array rows x units }],
//        phaseLengths?: Int32Array (count x 2), plateauTimes?: Int32Array (examples x hidden x 2) }
//   (layouts: seg::RecordRequest / seg::Recording in native/common/segregated.h)
//   net.getWeights() / setWeights(layers) / setLearningRates({...}) / resetState()
//   net.getPosition() / setPosition({ epoch, example, evalRound }) / permutation(epoch, n)
//   net.config() -> the resolved configuration (every option, for checkpoints)
//
// trainChunk and evaluate run off the main thread as class jobs (worker.h: a CPU network's on the
// CPU executor thread); the instance is kept alive by a reference while they run, and any other
// call on the same instance meanwhile throws an Error.
#include <napi.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings.h"
#include "common/devices.h"
#include "common/error.h"
#include "common/segregated.h"
#include "worker.h"

namespace dendrite::bindings {
namespace {

using seg::Config;

const char* const kClass = "SegregatedNetwork";

// Reads the options object of the constructor with checks that name the option.
class Opts {
 public:
  Opts(Napi::Env env, Napi::Object o, std::string fn) : env_(env), o_(o), fn_(std::move(fn)) {}

  void only(const std::vector<std::string>& keys) const {
    std::set<std::string> allowed(keys.begin(), keys.end());
    Napi::Array names = o_.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      const std::string name = names.Get(i).ToString().Utf8Value();
      if (!allowed.count(name)) {
        std::string list;
        for (const std::string& k : keys) list += (list.empty() ? "" : ", ") + k;
        throw Napi::TypeError::New(env_, fn_ + ": unknown option \"" + name + "\" (expected one of " + list + ")");
      }
    }
  }
  bool has(const char* key) const { return !o_.Get(key).IsUndefined(); }
  [[noreturn]] void type_error(const std::string& key, const std::string& m) const {
    throw Napi::TypeError::New(env_, fn_ + ": option " + key + " " + m);
  }
  [[noreturn]] void range_error(const std::string& key, const std::string& m) const {
    throw Napi::RangeError::New(env_, fn_ + ": option " + key + " " + m);
  }
  double num(const char* key, double fallback, double lo, double hi) const {
    Napi::Value v = o_.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsNumber()) type_error(key, "must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d < lo || d > hi) {
      range_error(key, "must be a finite number in [" + show(lo) + ", " + show(hi) + "], got " + v.ToString().Utf8Value());
    }
    return d;
  }
  int64_t integer(const char* key, int64_t fallback, int64_t lo, int64_t hi) const {
    Napi::Value v = o_.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsNumber()) type_error(key, "must be an integer");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::floor(d) != d) range_error(key, "must be an integer, got " + v.ToString().Utf8Value());
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
      range_error(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.ToString().Utf8Value());
    }
    return static_cast<int64_t>(d);
  }
  bool flag(const char* key, bool fallback) const {
    Napi::Value v = o_.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsBoolean()) type_error(key, "must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  std::string choice(const char* key, const std::string& fallback, const std::vector<std::string>& allowed) const {
    Napi::Value v = o_.Get(key);
    if (v.IsUndefined()) return fallback;
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "\"" : ", \"") + a + "\"";
    if (!v.IsString()) type_error(key, "must be one of " + list);
    const std::string s = v.As<Napi::String>().Utf8Value();
    for (const std::string& a : allowed) {
      if (s == a) return s;
    }
    range_error(key, "must be one of " + list + ", got \"" + s + "\"");
  }
  std::vector<double> nums(const char* key, double lo, double hi) const {
    Napi::Value v = o_.Get(key);
    if (!v.IsArray()) type_error(key, "must be an array of numbers");
    Napi::Array a = v.As<Napi::Array>();
    std::vector<double> out;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      if (!e.IsNumber()) type_error(key, "must be an array of numbers");
      const double d = e.As<Napi::Number>().DoubleValue();
      if (!std::isfinite(d) || d < lo || d > hi) {
        range_error(key, "entries must be finite numbers in [" + show(lo) + ", " + show(hi) + "], got " + e.ToString().Utf8Value());
      }
      out.push_back(d);
    }
    return out;
  }
  uint64_t u64(const char* key, uint64_t fallback) const {
    Napi::Value v = o_.Get(key);
    if (v.IsUndefined()) return fallback;
    if (v.IsBigInt()) {
      bool lossless = false;
      const uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) range_error(key, "must fit in 64 unsigned bits");
      return u;
    }
    if (!v.IsNumber()) type_error(key, "must be a non-negative safe integer or a bigint");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d < 0 || std::floor(d) != d || d > 9007199254740991.0) {
      range_error(key, "must be a non-negative safe integer or a bigint, got " + v.ToString().Utf8Value());
    }
    return static_cast<uint64_t>(d);
  }
  static std::string show(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }

 private:
  Napi::Env env_;
  Napi::Object o_;
  std::string fn_;
};

const std::vector<std::string> kOptionKeys = {
    "layers", "nIn", "mode", "seed", "threads", "device", "dt", "lambdaMax", "tauS", "tauL", "gB", "gL", "gD", "gA",
    "EE", "EI", "conductances", "broadcast", "spikingFeedforward", "spikingFeedback", "mem", "forwardPhase",
    "targetPhase", "testPhase", "integrationTime", "integrationTimeTest", "randomPhaseLengths", "waldMean",
    "waldScale", "randomPlateauTimes", "plateauSd", "plateauCap", "feedback", "noisySymmetric", "symmetricNoiseSd",
    "sparseFeedback", "sparseDrop", "sparseGain", "feedbackBias", "init", "backprop", "backpropInPlace",
    "learningRates", "feedbackLearningRates"};

// The paper's learning rates ("Learning rate optimization"): 784-10, 784-500-10, 784-500-100-10.
std::vector<double> default_rates(size_t layers) {
  if (layers == 1) return {0.19};
  if (layers == 2) return {0.21, 0.21};
  if (layers == 3) return {0.23, 0.23, 0.12};
  return {};
}

// The device string is returned in *device ("cpu", "auto", "cuda" or "cuda:N", resolved later).
Config parse_config(Napi::Env env, Napi::Value arg, std::string* device_out) {
  const std::string fn = kClass;
  if (!arg.IsObject() || arg.IsArray() || arg.IsTypedArray()) throw Napi::TypeError::New(env, fn + ": expected one options object");
  Opts o(env, arg.As<Napi::Object>(), fn);
  o.only(kOptionKeys);
  const std::string mode = o.choice("mode", "spiking", {"spiking", "nonspiking"});
  const bool spiking = mode == "spiking";
  Config c = seg::preset(spiking);
  {
    Napi::Value v = arg.As<Napi::Object>().Get("device");
    if (!v.IsUndefined() && !v.IsString()) o.type_error("device", "must be a string: \"cpu\", \"cuda\", \"cuda:N\" or \"auto\"");
    *device_out = v.IsUndefined() ? "cpu" : v.As<Napi::String>().Utf8Value();
  }
  if (!o.has("layers")) o.type_error("layers", "is required: an array of layer sizes (hidden..., output), e.g. [500, 10]");
  {
    Napi::Value v = arg.As<Napi::Object>().Get("layers");
    if (!v.IsArray()) o.type_error("layers", "must be an array of layer sizes");
    c.layers.clear();
    for (double d : o.nums("layers", 1, 1 << 20)) {
      if (std::floor(d) != d) o.range_error("layers", "entries must be integers");
      c.layers.push_back(static_cast<int64_t>(d));
    }
    if (c.layers.empty() || c.layers.size() > 16) o.range_error("layers", "must list 1 to 16 layer sizes");
    if (c.layers.back() % 10 != 0) o.range_error("layers", "the output size must be a multiple of 10 (units per class)");
  }
  c.n_in = o.integer("nIn", 784, 1, int64_t{1} << 24);
  c.seed = o.u64("seed", 0);
  c.threads = static_cast<int>(o.integer("threads", 0, 0, 1024));
  c.dt = o.num("dt", 1.0, 1e-6, 1000);
  // Lengths in steps follow dt as in the original (int(x / dt)); each can be overridden.
  auto steps = [&](double ms) { return std::max<int64_t>(1, static_cast<int64_t>(ms / c.dt)); };
  if (spiking) {
    c.mem = std::max<int64_t>(1, static_cast<int64_t>(std::llround(10.0 / c.dt)));
    c.l_f_phase = steps(50);
    c.l_t_phase = steps(50);
    c.l_test = steps(250);
  }
  c.lambda_max = o.num("lambdaMax", 0.2 * c.dt, 1e-12, 1000);
  c.tau_s = o.num("tauS", c.tau_s, 1e-9, 1e6);
  c.tau_L = o.num("tauL", c.tau_L, 1e-9, 1e6);
  c.g_B = o.num("gB", c.g_B, 1e-12, 1e6);
  c.g_L = o.num("gL", c.g_L, 0, 1e6);
  c.g_D = o.num("gD", c.g_D, 1e-12, 1e6);
  c.g_A = o.num("gA", c.g_A, 0, 1e6);
  c.E_E = o.num("EE", c.E_E, -1e6, 1e6);
  c.E_I = o.num("EI", c.E_I, -1e6, 1e6);
  c.use_conductances = o.flag("conductances", c.use_conductances);
  c.broadcast = o.flag("broadcast", c.broadcast);
  c.spiking_feedforward = o.flag("spikingFeedforward", c.spiking_feedforward);
  c.spiking_feedback = o.flag("spikingFeedback", c.spiking_feedback);
  c.mem = o.integer("mem", c.mem, 1, 1000);
  c.l_f_phase = o.integer("forwardPhase", c.l_f_phase, 1, 1000000);
  c.l_t_phase = o.integer("targetPhase", c.l_t_phase, 1, 1000000);
  c.l_test = o.integer("testPhase", c.l_test, 1, 1000000);
  // Windows: the phase minus the 30 ms settle time (at least 1 step), unless given.
  const int64_t settle = spiking ? static_cast<int64_t>(30.0 / c.dt) : 0;
  const int64_t T_default = spiking ? std::max<int64_t>(1, std::min(c.l_f_phase, c.l_t_phase) - settle) : c.integration_time;
  const int64_t T_test_default = spiking ? std::max<int64_t>(1, c.l_test - settle) : c.integration_time_test;
  c.integration_time = o.integer("integrationTime", T_default, 1, 1000000);
  c.integration_time_test = o.integer("integrationTimeTest", T_test_default, 1, 1000000);
  c.rand_phase_lengths = o.flag("randomPhaseLengths", c.rand_phase_lengths);
  c.wald_mean = o.num("waldMean", c.wald_mean, 1e-9, 1e6);
  c.wald_scale = o.num("waldScale", c.wald_scale, 1e-9, 1e6);
  c.rand_plateau_times = o.flag("randomPlateauTimes", c.rand_plateau_times);
  c.plateau_sd = o.num("plateauSd", c.plateau_sd, 0, 1e6);
  c.plateau_cap = o.integer("plateauCap", c.plateau_cap, 0, 1000000);
  const std::string fb = o.choice("feedback", "random", {"random", "symmetric", "learned"});
  c.feedback = fb == "random" ? seg::FeedbackKind::Random
                              : (fb == "symmetric" ? seg::FeedbackKind::Symmetric : seg::FeedbackKind::Learned);
  c.noisy_symmetric = o.flag("noisySymmetric", c.noisy_symmetric);
  c.symmetric_noise_sd = o.num("symmetricNoiseSd", c.symmetric_noise_sd, 0, 1e6);
  c.sparse_feedback = o.flag("sparseFeedback", c.sparse_feedback);
  c.sparse_drop = o.num("sparseDrop", c.sparse_drop, 0, 0.999999);
  c.sparse_gain = o.num("sparseGain", c.sparse_gain, 1e-12, 1e6);
  c.feedback_bias = o.flag("feedbackBias", c.feedback_bias);
  const std::string init = o.choice("init", "realised", {"realised", "design", "plain"});
  c.init = init == "realised" ? seg::InitKind::Realised : (init == "design" ? seg::InitKind::Design : seg::InitKind::Plain);
  c.backprop = o.flag("backprop", c.backprop);
  c.backprop_inplace = o.flag("backpropInPlace", c.backprop_inplace);
  if (o.has("learningRates")) {
    c.f_etas = o.nums("learningRates", 0, 1e6);
  } else {
    c.f_etas = default_rates(c.layers.size());
    if (c.f_etas.empty()) o.type_error("learningRates", "is required for networks other than 784-10, 784-500-10 and 784-500-100-10 (one rate per layer)");
  }
  c.b_etas.clear();
  if (o.has("feedbackLearningRates")) c.b_etas = o.nums("feedbackLearningRates", 0, 1e6);
  // The combinations: dendrite::Error with the option named, turned into a RangeError.
  try {
    seg::validate(c);
  } catch (const Error& e) {
    throw to_js_error(env, e.kind(), std::string(e.what()));
  }
  return c;
}

// Every option of the table (an absent optional list is left out), then seed and threads: the
// complete option set, which the constructor takes back.
Napi::Object config_to_js(Napi::Env env, const Config& c) {
  Napi::Object o = Napi::Object::New(env);
  seg::for_each_option(c, [&](const seg::OptionSpec& s, const auto& v) {
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<T, std::vector<double>> || std::is_same_v<T, std::vector<int64_t>>) {
      if (v.empty() && !s.required) return;
      Napi::Array a = Napi::Array::New(env, v.size());
      for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(v[i]));
      o.Set(s.name, a);
    } else if constexpr (std::is_enum_v<T>) {
      o.Set(s.name, s.choices[static_cast<size_t>(v)]);
    } else if constexpr (std::is_same_v<T, bool>) {
      o.Set(s.name, v);
    } else {
      o.Set(s.name, static_cast<double>(v));
    }
  });
  o.Set("seed", Napi::BigInt::New(env, c.seed));
  o.Set("threads", c.threads);
  return o;
}

class SegWrap final : public Napi::ObjectWrap<SegWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, kClass,
                       {InstanceMethod<&SegWrap::guard<&SegWrap::train_chunk>>("trainChunk"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::evaluate>>("evaluate"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::get_weights>>("getWeights"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::set_weights>>("setWeights"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::set_learning_rates>>("setLearningRates"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::reset_state>>("resetState"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::get_state>>("getState"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::set_state>>("setState"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::get_position>>("getPosition"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::set_position>>("setPosition"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::permutation>>("permutation"),
                        InstanceMethod<&SegWrap::guard<&SegWrap::config>>("config"),
                        InstanceAccessor<&SegWrap::busy>("busy"),
                        InstanceAccessor<&SegWrap::device>("device")});
  }

  explicit SegWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SegWrap>(info) {
    js_errors(info.Env(), "", [&] { construct(info); });
  }

 private:
  void construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 1) throw Napi::TypeError::New(env, std::string(kClass) + ": expected one options object");
    std::string device_text;
    const Config c = parse_config(env, info[0], &device_text);
    // "auto" takes CUDA when a device can be used.
    const DeviceSpec spec = resolve_device(device_text);
    if (spec.kind == DeviceKind::Cuda) {
      net_ = seg::make_cuda_network(c, spec.index);
      device_ = "cuda:" + std::to_string(spec.index);
    } else {
      net_ = seg::make_cpu_network(c);
      device_ = "cpu";
    }
  }

  // Every method: native errors become JS errors.
  template <Napi::Value (SegWrap::*M)(const Napi::CallbackInfo&)>
  Napi::Value guard(const Napi::CallbackInfo& info) {
    return js_errors(info.Env(), "", [&] { return (this->*M)(info); });
  }

  std::string fn(const char* method) const { return std::string(kClass) + "." + method; }

  void check_idle(Napi::Env env, const char* method) const {
    if (busy_) {
      throw Napi::Error::New(env, fn(method) + ": a trainChunk or evaluate call is still running on this network; await it first");
    }
  }

  template <class T>
  static T typed(Napi::Env env, Napi::Object o, const char* key, const std::string& where, napi_typedarray_type type,
                 const char* tname) {
    Napi::Value v = o.Get(key);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
      throw Napi::TypeError::New(env, where + ": " + key + " must be a " + tname);
    }
    return v.As<T>();
  }

  // Parses a record request; count = chunk length (train) or number of images (evaluate).
  std::shared_ptr<seg::RecordRequest> parse_record(Napi::Env env, Napi::Object o, const std::string& where, int64_t count,
                                                   bool train) const {
    Napi::Value v = o.Get("record");
    if (v.IsUndefined()) return nullptr;
    if (!v.IsObject() || v.IsArray()) throw Napi::TypeError::New(env, where + ": record must be an object");
    Napi::Object r = v.As<Napi::Object>();
    const std::string at = where + ": record";
    Opts ro(env, r, at);
    if (train) ro.only({"examples", "units", "voltages", "phaseTimes", "plateauTimes"});
    else ro.only({"examples", "units", "voltages"});
    auto rq = std::make_shared<seg::RecordRequest>();
    const Config& c = net_->config();
    const int64_t M = c.num_layers();
    auto int_list = [&](Napi::Value a, const std::string& name, int64_t hi) {
      if (!a.IsArray() && !(a.IsTypedArray() && a.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array)) {
        throw Napi::TypeError::New(env, at + "." + name + " must be an array of integers");
      }
      Napi::Object arr = a.As<Napi::Object>();
      const uint32_t len = a.IsArray() ? a.As<Napi::Array>().Length() : static_cast<uint32_t>(a.As<Napi::TypedArray>().ElementLength());
      std::vector<int64_t> out;
      for (uint32_t i = 0; i < len; ++i) {
        Napi::Value e = arr.Get(i);
        if (!e.IsNumber()) throw Napi::TypeError::New(env, at + "." + name + " must be an array of integers");
        const double d = e.As<Napi::Number>().DoubleValue();
        if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d >= static_cast<double>(hi)) {
          throw Napi::RangeError::New(env, at + "." + name + "[" + std::to_string(i) + "] = " + e.ToString().Utf8Value() +
                                               " is not an integer in [0, " + std::to_string(hi) + ")");
        }
        out.push_back(static_cast<int64_t>(d));
      }
      return out;
    };
    if (!ro.has("examples")) throw Napi::TypeError::New(env, at + ".examples is required (an array of integers)");
    rq->examples = int_list(r.Get("examples"), "examples", count);
    for (size_t i = 1; i < rq->examples.size(); ++i) {
      if (rq->examples[i] <= rq->examples[i - 1]) throw Napi::RangeError::New(env, at + ".examples must be strictly increasing");
    }
    rq->units.assign(static_cast<size_t>(M), {});
    if (ro.has("units")) {
      Napi::Value u = r.Get("units");
      if (!u.IsArray()) throw Napi::TypeError::New(env, at + ".units must be an array of one integer array per layer");
      Napi::Array ua = u.As<Napi::Array>();
      if (static_cast<int64_t>(ua.Length()) != M) {
        throw Napi::RangeError::New(env, at + ".units must hold one array per layer (" + std::to_string(M) + "), got " +
                                             std::to_string(ua.Length()));
      }
      for (int64_t m = 0; m < M; ++m) {
        const std::string name = "units[" + std::to_string(m) + "]";
        for (int64_t k : int_list(ua.Get(static_cast<uint32_t>(m)), name, c.layers[m])) rq->units[m].push_back(static_cast<int32_t>(k));
        std::set<int32_t> seen(rq->units[m].begin(), rq->units[m].end());
        if (seen.size() != rq->units[m].size()) throw Napi::RangeError::New(env, at + "." + name + " must not repeat a unit");
      }
    } else {
      for (int64_t m = 0; m < M; ++m)
        for (int32_t k = 0; k < std::min<int64_t>(4, c.layers[m]); ++k) rq->units[m].push_back(k);
    }
    rq->voltages = ro.flag("voltages", false);
    rq->phase_times = train && ro.flag("phaseTimes", false);
    rq->plateau_times = train && ro.flag("plateauTimes", false);
    if (!rq->voltages && !rq->phase_times && !rq->plateau_times) {
      throw Napi::TypeError::New(env, at + " must ask for something: voltages" + std::string(train ? ", phaseTimes or plateauTimes" : ""));
    }
    if (!net_->supports_recording()) throw Napi::Error::New(env, at + ": this backend cannot record");
    // Bound the buffers before allocating them on the worker (rows x units, 4 quantities).
    if (rq->voltages) {
      const double steps = train ? 2.0 * static_cast<double>(std::max(c.l_f_phase, c.l_t_phase)) + 100.0 : static_cast<double>(c.l_test);
      double per_row = 0;
      for (const auto& u : rq->units) per_row += static_cast<double>(u.size());
      if (static_cast<double>(rq->examples.size()) * steps * per_row * 4.0 > 4e8) {
        throw Napi::RangeError::New(env, at + ": too many examples x steps x units to record (over 4e8 values); record fewer");
      }
    }
    return rq;
  }

  // The JS object of a recording.
  static Napi::Object record_to_js(Napi::Env e, const seg::RecordRequest& rq, const seg::Recording& r, int64_t M) {
    Napi::Object o = Napi::Object::New(e);
    auto i32 = [&](const auto& v) {
      auto a = Napi::Int32Array::New(e, v.size());
      for (size_t i = 0; i < v.size(); ++i) a.Data()[i] = static_cast<int32_t>(v[i]);
      return a;
    };
    o.Set("stepOffsets", i32(r.step_offset));
    if (rq.voltages) {
      Napi::Array layers = Napi::Array::New(e, static_cast<size_t>(M));
      for (int64_t m = 0; m < M; ++m) {
        Napi::Object l = Napi::Object::New(e);
        l.Set("units", i32(rq.units[m]));
        if (m < M - 1) l.Set("A", to_f32(e, r.A[m]));
        l.Set("B", to_f32(e, r.B[m]));
        l.Set("C", to_f32(e, r.C[m]));
        l.Set("lambda", to_f32(e, r.lam[m]));
        layers.Set(static_cast<uint32_t>(m), l);
      }
      o.Set("layers", layers);
    }
    if (rq.phase_times) o.Set("phaseLengths", i32(r.phase_lengths));
    if (rq.plateau_times) o.Set("plateauTimes", i32(r.plateau_times));
    return o;
  }

  // trainChunk({ images, labels, order, batchSize?, recordAngle?, record? })
  Napi::Value train_chunk(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string where = fn("trainChunk");
    check_idle(env, "trainChunk");
    if (info.Length() != 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, where + ": expected one options object");
    Napi::Object o = info[0].As<Napi::Object>();
    Opts opts(env, o, where);
    opts.only({"images", "labels", "order", "batchSize", "recordAngle", "record"});
    auto images = typed<Napi::Uint8Array>(env, o, "images", where, napi_uint8_array, "Uint8Array");
    auto labels = typed<Napi::Uint8Array>(env, o, "labels", where, napi_uint8_array, "Uint8Array");
    auto order = typed<Napi::Int32Array>(env, o, "order", where, napi_int32_array, "Int32Array");
    const int64_t n_in = net_->config().n_in;
    const int64_t n_images = static_cast<int64_t>(labels.ElementLength());
    if (static_cast<int64_t>(images.ElementLength()) != n_images * n_in) {
      throw Napi::RangeError::New(env, where + ": images must hold labels.length * " + std::to_string(n_in) + " = " +
                                           std::to_string(n_images * n_in) + " pixels, got " +
                                           std::to_string(images.ElementLength()));
    }
    const int64_t count = static_cast<int64_t>(order.ElementLength());
    for (int64_t i = 0; i < count; ++i) {
      const int32_t k = order.Data()[i];
      if (k < 0 || k >= n_images) {
        throw Napi::RangeError::New(env, where + ": order[" + std::to_string(i) + "] = " + std::to_string(k) +
                                             " is not an image index in [0, " + std::to_string(n_images) + ")");
      }
      if (labels.Data()[k] > 9) {
        throw Napi::RangeError::New(env, where + ": labels[" + std::to_string(k) + "] = " + std::to_string(labels.Data()[k]) +
                                             " is not a class in [0, 9]");
      }
    }
    const int64_t batch = opts.integer("batchSize", 1, 1, 4096);
    const bool angle = opts.flag("recordAngle", false);
    std::shared_ptr<seg::RecordRequest> rec = parse_record(env, o, where, count, true);
    if (net_->position().epoch >= seg::kMaxEpoch) throw Napi::RangeError::New(env, where + ": epoch counter exhausted");

    seg::TrainRequest req;
    req.images = images.Data();
    req.labels = labels.Data();
    req.n_images = n_images;
    req.order = order.Data();
    req.count = count;
    req.batch_size = batch;
    req.record_angle = angle;
    req.record = rec.get();
    auto result = std::make_shared<seg::TrainResult>();
    seg::Network* net = net_.get();
    const int64_t hidden = net_->config().num_hidden();
    return launch(env, info.This().As<Napi::Object>(), {images, labels, order}, [net, req, result, rec] { net->train_chunk(req, *result); },
                  [result, angle, hidden, count, rec](Napi::Env e) -> Napi::Value {
                    Napi::Object out = Napi::Object::New(e);
                    auto loss = Napi::Float32Array::New(e, static_cast<size_t>(count));
                    auto pred = Napi::Int32Array::New(e, static_cast<size_t>(count));
                    for (int64_t i = 0; i < count; ++i) {
                      loss.Data()[i] = result->loss[i];
                      pred.Data()[i] = result->prediction[i];
                    }
                    out.Set("loss", loss);
                    out.Set("prediction", pred);
                    if (angle) {
                      auto a = Napi::Float32Array::New(e, static_cast<size_t>(count * hidden));
                      for (int64_t i = 0; i < count * hidden; ++i) a.Data()[i] = result->angle[i];
                      out.Set("angle", a);
                    }
                    if (rec) out.Set("record", record_to_js(e, *rec, result->record, hidden + 1));
                    return out;
                  });
  }

  // evaluate({ images, count?, round?, voltages? })
  Napi::Value evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string where = fn("evaluate");
    check_idle(env, "evaluate");
    if (info.Length() != 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, where + ": expected one options object");
    Napi::Object o = info[0].As<Napi::Object>();
    Opts opts(env, o, where);
    opts.only({"images", "count", "round", "voltages", "record"});
    auto images = typed<Napi::Uint8Array>(env, o, "images", where, napi_uint8_array, "Uint8Array");
    const int64_t n_in = net_->config().n_in;
    if (images.ElementLength() % static_cast<size_t>(n_in) != 0) {
      throw Napi::RangeError::New(env, where + ": images must hold a multiple of " + std::to_string(n_in) + " pixels");
    }
    const int64_t avail = static_cast<int64_t>(images.ElementLength()) / n_in;
    const int64_t count = opts.integer("count", avail, 0, avail);
    seg::Position pos = net_->position();
    const uint64_t round = opts.u64("round", pos.eval_round);
    if (round >= seg::kMaxEpoch) throw Napi::RangeError::New(env, where + ": round must be below 2^28 - 1");
    const bool want_v = opts.flag("voltages", false);
    std::shared_ptr<seg::RecordRequest> rec = parse_record(env, o, where, count, false);
    auto recording = std::make_shared<seg::Recording>();
    const int64_t M = net_->config().num_layers();
    if (!opts.has("round")) {
      pos.eval_round += 1;  // each default evaluation draws fresh spikes
      net_->set_position(pos);
    }
    const int64_t n_out = net_->config().n_out();
    auto pred = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(count));
    auto volt = std::make_shared<std::vector<float>>(want_v ? static_cast<size_t>(count * n_out) : 0);
    seg::Network* net = net_.get();
    const uint8_t* px = images.Data();
    return launch(env, info.This().As<Napi::Object>(), {images},
                  [net, px, count, round, pred, volt, want_v, rec, recording] {
                    if (rec) net->evaluate_recorded(px, count, round, pred->data(), want_v ? volt->data() : nullptr, *rec, *recording);
                    else net->evaluate(px, count, round, pred->data(), want_v ? volt->data() : nullptr);
                  },
                  [pred, volt, want_v, count, n_out, rec, recording, M](Napi::Env e) -> Napi::Value {
                    Napi::Object out = Napi::Object::New(e);
                    auto p = Napi::Int32Array::New(e, static_cast<size_t>(count));
                    for (int64_t i = 0; i < count; ++i) p.Data()[i] = (*pred)[i];
                    out.Set("prediction", p);
                    if (want_v) {
                      auto v = Napi::Float32Array::New(e, static_cast<size_t>(count * n_out));
                      for (int64_t i = 0; i < count * n_out; ++i) v.Data()[i] = (*volt)[i];
                      out.Set("voltages", v);
                    }
                    if (rec) out.Set("record", record_to_js(e, *rec, *recording, M));
                    return out;
                  });
  }

  // Queues a job on the network (worker.h): busy until it settles, CPU networks on the CPU executor.
  Napi::Value launch(Napi::Env env, Napi::Object self, std::vector<Napi::Value> keep, std::function<void()> job,
                     std::function<Napi::Value(Napi::Env)> finish) {
    ClassJob j;
    j.self = self;
    j.busy = &busy_;
    j.cpu = device_ == "cpu";
    j.keep = std::move(keep);
    j.run = std::move(job);
    j.finish = std::move(finish);
    return queue_class_job(env, std::move(j));
  }

  static Napi::Float32Array to_f32(Napi::Env env, const std::vector<float>& v) {
    auto a = Napi::Float32Array::New(env, v.size());
    for (size_t i = 0; i < v.size(); ++i) a.Data()[i] = v[i];
    return a;
  }

  Napi::Value get_weights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "getWeights");
    const std::vector<seg::LayerWeights> w = net_->get_weights();
    Napi::Array out = Napi::Array::New(env, w.size());
    for (size_t m = 0; m < w.size(); ++m) {
      Napi::Object l = Napi::Object::New(env);
      l.Set("W", to_f32(env, w[m].W));
      l.Set("b", to_f32(env, w[m].b));
      if (m + 1 < w.size()) {
        l.Set("Y", to_f32(env, w[m].Y));
        if (!w[m].c.empty()) l.Set("c", to_f32(env, w[m].c));
      }
      out.Set(static_cast<uint32_t>(m), l);
    }
    return out;
  }

  // setWeights([{ W, b, Y?, c? }, ...]) with the shapes of getWeights (Float32Array or number[]).
  Napi::Value set_weights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string where = fn("setWeights");
    check_idle(env, "setWeights");
    if (info.Length() != 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, where + ": expected an array of layers");
    Napi::Array a = info[0].As<Napi::Array>();
    std::vector<seg::LayerWeights> w(a.Length());
    auto read = [&](Napi::Object l, const char* key, std::vector<float>& out, bool optional, uint32_t m) {
      Napi::Value v = l.Get(key);
      const std::string at = where + ": layer " + std::to_string(m) + " " + key;
      if (v.IsUndefined() && optional) return;
      if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
        auto f = v.As<Napi::Float32Array>();
        out.assign(f.Data(), f.Data() + f.ElementLength());
      } else if (v.IsArray()) {
        Napi::Array arr = v.As<Napi::Array>();
        out.resize(arr.Length());
        for (uint32_t i = 0; i < arr.Length(); ++i) {
          Napi::Value e = arr.Get(i);
          if (!e.IsNumber()) throw Napi::TypeError::New(env, at + " must hold numbers");
          out[i] = static_cast<float>(e.As<Napi::Number>().DoubleValue());
        }
      } else {
        throw Napi::TypeError::New(env, at + " must be a Float32Array or an array of numbers");
      }
    };
    for (uint32_t m = 0; m < a.Length(); ++m) {
      Napi::Value lv = a.Get(m);
      if (!lv.IsObject()) throw Napi::TypeError::New(env, where + ": layer " + std::to_string(m) + " must be an object { W, b, Y?, c? }");
      Napi::Object l = lv.As<Napi::Object>();
      read(l, "W", w[m].W, false, m);
      read(l, "b", w[m].b, false, m);
      read(l, "Y", w[m].Y, true, m);
      read(l, "c", w[m].c, true, m);
    }
    try {
      net_->set_weights(w);
    } catch (const Error& e) {
      throw to_js_error(env, e.kind(), e.what());
    }
    return env.Undefined();
  }

  Napi::Value set_learning_rates(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string where = fn("setLearningRates");
    check_idle(env, "setLearningRates");
    if (info.Length() != 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, where + ": expected { learningRates, feedbackLearningRates? }");
    Opts o(env, info[0].As<Napi::Object>(), where);
    o.only({"learningRates", "feedbackLearningRates"});
    std::vector<double> f = o.has("learningRates") ? o.nums("learningRates", 0, 1e6) : net_->config().f_etas;
    std::vector<double> b = o.has("feedbackLearningRates") ? o.nums("feedbackLearningRates", 0, 1e6) : net_->config().b_etas;
    try {
      net_->set_learning_rates(f, b);
    } catch (const Error& e) {
      throw to_js_error(env, e.kind(), where + ": " + e.what());
    }
    return env.Undefined();
  }

  Napi::Value reset_state(const Napi::CallbackInfo& info) {
    check_idle(info.Env(), "resetState");
    net_->reset_state();
    return info.Env().Undefined();
  }

  // getState() -> Float64Array: the carried-over dynamic state (for exact mid-epoch resume).
  Napi::Value get_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "getState");
    const std::vector<double> st = net_->get_state();
    auto out = Napi::Float64Array::New(env, st.size());
    for (size_t i = 0; i < st.size(); ++i) out.Data()[i] = st[i];
    return out;
  }

  Napi::Value set_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string where = fn("setState");
    check_idle(env, "setState");
    std::vector<double> st;
    if (info.Length() == 1 && info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
      auto a = info[0].As<Napi::Float64Array>();
      st.assign(a.Data(), a.Data() + a.ElementLength());
    } else if (info.Length() == 1 && info[0].IsArray()) {
      Napi::Array a = info[0].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value v = a.Get(i);
        if (!v.IsNumber()) throw Napi::TypeError::New(env, where + ": state must hold numbers");
        st.push_back(v.As<Napi::Number>().DoubleValue());
      }
    } else {
      throw Napi::TypeError::New(env, where + ": expected a Float64Array or an array of numbers (from getState)");
    }
    try {
      net_->set_state(st);
    } catch (const Error& e) {
      throw to_js_error(env, e.kind(), e.what());
    }
    return env.Undefined();
  }

  Napi::Value get_position(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_idle(env, "getPosition");
    const seg::Position p = net_->position();
    Napi::Object o = Napi::Object::New(env);
    o.Set("epoch", static_cast<double>(p.epoch));
    o.Set("example", static_cast<double>(p.example));
    o.Set("evalRound", static_cast<double>(p.eval_round));
    return o;
  }

  Napi::Value set_position(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string where = fn("setPosition");
    check_idle(env, "setPosition");
    if (info.Length() != 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, where + ": expected { epoch, example, evalRound }");
    Opts o(env, info[0].As<Napi::Object>(), where);
    o.only({"epoch", "example", "evalRound"});
    seg::Position p = net_->position();
    p.epoch = static_cast<uint64_t>(o.integer("epoch", static_cast<int64_t>(p.epoch), 0, static_cast<int64_t>(seg::kMaxEpoch) - 1));
    p.example = static_cast<uint64_t>(o.integer("example", static_cast<int64_t>(p.example), 0, 0xffffffffll));
    p.eval_round = static_cast<uint64_t>(o.integer("evalRound", static_cast<int64_t>(p.eval_round), 0, static_cast<int64_t>(seg::kMaxEpoch) - 1));
    net_->set_position(p);
    return env.Undefined();
  }

  // permutation(epoch, n): the training order of an epoch (Fisher-Yates on the seeded shuffle stream).
  Napi::Value permutation(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string where = fn("permutation");
    auto as_int = [&](size_t i, const char* name, double hi) {
      if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(env, where + ": " + name + " must be an integer");
      const double d = info[i].As<Napi::Number>().DoubleValue();
      if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > hi) {
        throw Napi::RangeError::New(env, where + ": " + name + " must be an integer in [0, " + Opts::show(hi) + "]");
      }
      return static_cast<int64_t>(d);
    };
    const int64_t epoch = as_int(0, "epoch", static_cast<double>(seg::kMaxEpoch - 1));
    const int64_t n = as_int(1, "n", 2147483647.0);
    const std::vector<int32_t> p = seg::permutation(net_->config().seed, static_cast<uint64_t>(epoch), n);
    auto out = Napi::Int32Array::New(env, p.size());
    for (size_t i = 0; i < p.size(); ++i) out.Data()[i] = p[i];
    return out;
  }

  Napi::Value config(const Napi::CallbackInfo& info) { return config_to_js(info.Env(), net_->config()); }
  Napi::Value busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }
  Napi::Value device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_); }

  std::unique_ptr<seg::Network> net_;
  bool busy_ = false;
  std::string device_ = "cpu";  // where the network lives: "cpu" or "cuda:N"
};

}  // namespace

void register_segregated(Napi::Env env, Napi::Object exports) {
  exports.Set(kClass, SegWrap::define(env));
}

}  // namespace dendrite::bindings

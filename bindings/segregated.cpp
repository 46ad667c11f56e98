// SegregatedNetwork: the segregated-dendrite simulator (native/common/segregated.h) as a JS class.
//
//   new SegregatedNetwork(options)   options: the complete set of native options of the table
//       (native/common/segregated_options.inc, generated from src/models/segregated-options.ts), as
//       the TS layer resolves it, plus seed?, threads?, device?; ranges checked by seg::validate
//   net.trainChunk({ images, labels, order, batchSize?, recordAngle?, record? })
//       -> Promise<{ loss: Float32Array, prediction: Int32Array, angle?: Float32Array, record? }>
//   net.evaluate({ images, count, round?, offset?, voltages?, record? }) -> Promise<{ prediction, voltages?, record? }>
//       offset: the index of images[0] in the whole test set (default 0), which keys its test spikes
//   record = { examples: number[] (positions in the chunk / image indices, increasing),
//              units?: number[][] (per layer; default its first min(4, n) units), voltages?,
//              phaseTimes?, plateauTimes? (training only) }
//   -> { stepOffsets: Int32Array, layers: [{ A? (hidden), B, C, lambda: Float32Array rows x units }],
//        phaseLengths?: Int32Array (count x 2), plateauTimes?: Int32Array (examples x hidden x 2) }
//   (layouts: seg::RecordRequest / seg::Recording in native/common/segregated.h)
//   net.getWeights() / setWeights(layers) / setLearningRates({...}) / resetState()
//   net.getPosition() / setPosition({ epoch, example, evalRound }) / permutation(epoch, n)
//   net.config() -> the options it was given: the complete set, seed (a bigint) and threads
//   net.dispose() frees the network now (refused while a job runs); every later call throws
//
// trainChunk and evaluate run off the main thread as class jobs (worker.h: a CPU network's on the
// CPU executor thread); the instance is kept alive by a reference while they run, and any other
// call on the same instance meanwhile throws an Error. A job owns what it reads: copies of its
// inputs (trainChunk: the chunk's images and labels, gathered in order) and the network through a
// shared_ptr. The network's memory is reported to V8 (ExternalMemory); an unreferenced network is
// freed by its finalizer.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>  // sysconf: the machine's memory
#endif

#include "args.h"
#include "bindings.h"
#include "cpu_executor.h"
#include "common/devices.h"
#include "common/error.h"
#include "common/segregated.h"
#include "worker.h"

namespace dendrite::bindings {
namespace {

using seg::Config;

const char* const kClass = "SegregatedNetwork";
constexpr size_t kMaxLength = size_t{1} << 32;  // typed arrays longer than this are refused

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

// An integer value of a number option (its range is validate()'s; here only what a cast needs).
int64_t whole(const Args& a, const std::string& key, double d) {
  if (std::floor(d) != d || std::fabs(d) > kMaxSafeInteger) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", d);
    a.range_error(key, std::string("must be an integer, got ") + text);
  }
  return static_cast<int64_t>(d);
}

// The constructor's options: every native option of the table (segregated_options.inc) and seed,
// threads, device. No defaults here: the TS layer resolves them (a missing option is a TypeError);
// types are checked here, ranges and combinations by seg::validate.
Config parse_config(const Napi::CallbackInfo& info, std::string* device_out) {
  std::vector<const char*> keys;
  for (const seg::OptionSpec& s : seg::options()) keys.push_back(s.name);
  for (const char* k : {"seed", "threads", "device"}) keys.push_back(k);
  Args a(info, kClass, keys);
  Config c;
  seg::for_each_option(c, [&](const seg::OptionSpec& s, auto& v) {
    using T = std::decay_t<decltype(v)>;
    const char* key = s.name;
    if (!a.has(key)) {
      if (!s.required) return;  // absent: an empty list
      a.type_error(key, "is missing: the native class takes the complete option set, which the TS layer resolves from "
                        "the defaults (use SegregatedNetwork from 'dendrite-bench')");
    }
    if constexpr (std::is_same_v<T, double>) {
      v = a.real(key);
    } else if constexpr (std::is_same_v<T, int64_t>) {
      v = whole(a, key, a.real(key));
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!a.value(key).IsBoolean()) a.type_error(key, "must be a boolean");
      v = a.value(key).template As<Napi::Boolean>().Value();
    } else if constexpr (std::is_enum_v<T>) {
      v = static_cast<T>(a.choice(key, s.choices));
    } else if constexpr (std::is_same_v<T, std::vector<double>>) {
      v = a.reals(key);
    } else {
      static_assert(std::is_same_v<T, std::vector<int64_t>>, "an option type the binding cannot read");
      v.clear();
      for (double d : a.reals(key)) v.push_back(whole(a, key, d));
    }
  });
  c.seed = a.u64_or("seed", 0);
  c.threads = static_cast<int>(a.integer_or("threads", 0, 0, 1024));
  if (a.has("device") && !a.value("device").IsString()) {
    a.type_error("device", "must be a string: \"cpu\", \"cuda\", \"cuda:N\" or \"auto\"");
  }
  *device_out = a.string_or("device", "cpu");
  // Ranges and combinations: dendrite::Error naming the option (a RangeError in JS).
  seg::validate(c);
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
                        InstanceMethod<&SegWrap::guard<&SegWrap::dispose>>("dispose"),
                        InstanceAccessor<&SegWrap::busy>("busy"),
                        InstanceAccessor<&SegWrap::device>("device")});
  }

  explicit SegWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SegWrap>(info) {
    js_errors(info.Env(), "", [&] { construct(info); });
  }
  // The finalizer (or environment teardown): a job cannot be running (it references this object).
  ~SegWrap() override { free_network(); }

 private:
  void construct(const Napi::CallbackInfo& info) {
    std::string device_text;
    const Config c = parse_config(info, &device_text);
    // "auto" takes CUDA when a device can be used.
    const DeviceSpec spec = resolve_device(device_text);
    if (spec.kind == DeviceKind::Cpu) {
      const int threads = c.threads > 0 ? c.threads : default_threads();
      const std::string why = check_threads(threads);
      if (!why.empty()) fail(ErrorKind::OutOfRange, std::string(kClass) + ": threads = " + std::to_string(threads) + ": " + why);
      check_memory(c);
    }
    int64_t bytes = 0;
    try {
      net_ = ExternalMemory::measured(
          [&]() -> std::shared_ptr<seg::Network> {
            if (spec.kind == DeviceKind::Cuda) return seg::make_cuda_network(c, spec.index);
            return seg::make_cpu_network(c);
          },
          &bytes);
    } catch (const std::bad_alloc&) {
      fail(ErrorKind::OutOfMemory, std::string(kClass) + ": out of memory allocating the network (" + describe_size(c) + ")");
    } catch (const std::length_error&) {
      fail(ErrorKind::OutOfMemory, std::string(kClass) + ": out of memory allocating the network (" + describe_size(c) + ")");
    }
    device_ = spec.kind == DeviceKind::Cuda ? "cuda:" + std::to_string(spec.index) : "cpu";
    // At least its forward weights (where the heap cannot be measured, e.g. under a sanitizer).
    memory_.report(info.Env(), std::max(bytes, static_cast<int64_t>(weight_bytes(c))));
  }

  // The float32 weights and biases of the forward path alone: a lower bound of the network's memory.
  static double weight_bytes(const Config& c) {
    double total = 0, prev = static_cast<double>(c.n_in);
    for (int64_t n : c.layers) {
      total += static_cast<double>(n) * (prev + 1.0);
      prev = static_cast<double>(n);
    }
    return 4.0 * total;
  }

  static std::string gigabytes(double bytes) {
    char text[48];
    if (bytes >= 1e12) std::snprintf(text, sizeof text, "%.1f TB", bytes / 1e12);
    else std::snprintf(text, sizeof text, "%.1f GB", bytes / 1e9);
    return text;
  }

  static std::string describe_size(const Config& c) {
    std::string layers;
    for (int64_t n : c.layers) layers += (layers.empty() ? "" : ",") + std::to_string(n);
    return "layers " + layers + " with nIn " + std::to_string(c.n_in) + ": their weights alone take " +
           gigabytes(weight_bytes(c));
  }

  // A network whose weights alone exceed the machine's memory is refused before anything is
  // allocated: the allocations could succeed (memory is overcommitted) and the process be killed
  // when they are used.
  static void check_memory(const Config& c) {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return;
    const double physical = static_cast<double>(pages) * static_cast<double>(page);
    if (weight_bytes(c) > physical) {
      fail(ErrorKind::OutOfMemory, std::string(kClass) + ": too large for this machine (" + describe_size(c) +
                                       ", more than its " + gigabytes(physical) + " of memory); use smaller layers");
    }
#else
    (void)c;
#endif
  }

  void free_network() noexcept {
    if (!net_) return;
    net_.reset();
    memory_.release();
  }

  // dispose(): frees the network's memory now (host or device); every later call throws, except
  // dispose() (which does nothing) and the device accessor. Refused while a trainChunk or evaluate
  // call runs (await it first).
  Napi::Value dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (busy_) {
      throw Napi::Error::New(env, fn("dispose") + ": a trainChunk or evaluate call is still running on this network; await it first");
    }
    free_network();
    return env.Undefined();
  }

  // Every method: native errors become JS errors.
  template <Napi::Value (SegWrap::*M)(const Napi::CallbackInfo&)>
  Napi::Value guard(const Napi::CallbackInfo& info) {
    return js_errors(info.Env(), "", [&] { return (this->*M)(info); });
  }

  std::string fn(const char* method) const { return std::string(kClass) + "." + method; }

  void check_idle(Napi::Env env, const char* method) const {
    if (!net_) throw Napi::Error::New(env, fn(method) + ": the network was disposed");
    if (busy_) {
      throw Napi::Error::New(env, fn(method) + ": a trainChunk or evaluate call is still running on this network; await it first");
    }
  }

  // Parses a record request; count = chunk length (train) or number of images (evaluate).
  std::shared_ptr<seg::RecordRequest> parse_record(const Args& a, int64_t count, bool train) const {
    Napi::Env env = a.env();
    if (!a.has("record")) return nullptr;
    const Napi::Value v = a.value("record");
    if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction()) a.type_error("record", "must be an object");
    const std::string at = a.fn() + ": record";
    const Args ro = train ? Args(env, v, at, {"examples", "units", "voltages", "phaseTimes", "plateauTimes"})
                          : Args(env, v, at, {"examples", "units", "voltages"});
    Napi::Object r = v.As<Napi::Object>();
    auto rq = std::make_shared<seg::RecordRequest>();
    const Config& c = net_->config();
    const int64_t M = c.num_layers();
    auto int_list = [&](Napi::Value list, const std::string& name, int64_t hi) {
      if (!list.IsArray() && !(list.IsTypedArray() && list.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array)) {
        throw Napi::TypeError::New(env, at + "." + name + " must be an array of integers");
      }
      Napi::Object arr = list.As<Napi::Object>();
      const uint32_t len = list.IsArray() ? list.As<Napi::Array>().Length()
                                         : static_cast<uint32_t>(list.As<Napi::TypedArray>().ElementLength());
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
    rq->voltages = ro.boolean_or("voltages", false);
    rq->phase_times = train && ro.boolean_or("phaseTimes", false);
    rq->plateau_times = train && ro.boolean_or("plateauTimes", false);
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
    Args a(info, where, {"images", "labels", "order", "batchSize", "recordAngle", "record"});
    // labels and order are the call's copies (Args); of images, the rows the chunk uses are copied below.
    const size_t n_pixels = a.uint8_length("images", kMaxLength);
    auto labels = a.uint8_any("labels", kMaxLength);
    auto order = a.int32_any("order", kMaxLength);
    const int64_t n_in = net_->config().n_in;
    const int64_t n_images = static_cast<int64_t>(labels.length);
    if (static_cast<int64_t>(n_pixels) != n_images * n_in) {
      throw Napi::RangeError::New(env, where + ": images must hold labels.length * " + std::to_string(n_in) + " = " +
                                           std::to_string(n_images * n_in) + " pixels, got " + std::to_string(n_pixels));
    }
    const int64_t count = static_cast<int64_t>(order.length);
    for (int64_t i = 0; i < count; ++i) {
      const int32_t k = order.data[i];
      if (k < 0 || k >= n_images) {
        throw Napi::RangeError::New(env, where + ": order[" + std::to_string(i) + "] = " + std::to_string(k) +
                                             " is not an image index in [0, " + std::to_string(n_images) + ")");
      }
      if (labels.data[k] > 9) {
        throw Napi::RangeError::New(env, where + ": labels[" + std::to_string(k) + "] = " + std::to_string(labels.data[k]) +
                                             " is not a class in [0, 9]");
      }
    }
    const int64_t batch = a.integer_or("batchSize", 1, 1, 4096);
    const bool angle = a.boolean_or("recordAngle", false);
    std::shared_ptr<seg::RecordRequest> rec = parse_record(a, count, true);
    if (net_->position().epoch >= seg::kMaxEpoch) throw Napi::RangeError::New(env, where + ": epoch counter exhausted");

    // The job's own copies: the chunk's images and labels in presentation order (the simulator keys
    // its draws by position in the epoch, not by image index: the same training as with `order`).
    const std::vector<int32_t> rows(order.data, order.data + count);
    const Buffer<uint8_t> px = a.uint8_rows("images", static_cast<size_t>(n_in), rows);
    const Buffer<uint8_t> lab = Buffer<uint8_t>::uninitialized(static_cast<size_t>(count));
    const Buffer<int32_t> seq = Buffer<int32_t>::uninitialized(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      lab[static_cast<size_t>(i)] = labels.data[rows[static_cast<size_t>(i)]];
      seq[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    }
    seg::TrainRequest req;
    req.images = px.data();
    req.labels = lab.data();
    req.n_images = count;
    req.order = seq.data();
    req.count = count;
    req.batch_size = batch;
    req.record_angle = angle;
    req.record = rec.get();
    auto result = std::make_shared<seg::TrainResult>();
    std::shared_ptr<seg::Network> net = net_;
    const int64_t hidden = net_->config().num_hidden();
    return launch(env, info.This().As<Napi::Object>(), "trainChunk", [net, req, px, lab, seq, result, rec] { net->train_chunk(req, *result); },
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
                      auto ang = Napi::Float32Array::New(e, static_cast<size_t>(count * hidden));
                      for (int64_t i = 0; i < count * hidden; ++i) ang.Data()[i] = result->angle[i];
                      out.Set("angle", ang);
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
    Args a(info, where, {"images", "count", "round", "offset", "voltages", "record"});
    auto images = a.uint8_any("images", kMaxLength);
    const int64_t n_in = net_->config().n_in;
    if (images.length % static_cast<size_t>(n_in) != 0) {
      throw Napi::RangeError::New(env, where + ": images must hold a multiple of " + std::to_string(n_in) + " pixels");
    }
    const int64_t avail = static_cast<int64_t>(images.length) / n_in;
    const int64_t count = a.integer_or("count", avail, 0, avail);
    seg::Position pos = net_->position();
    const uint64_t round = a.u64_or("round", pos.eval_round);
    if (round >= seg::kMaxEpoch) throw Napi::RangeError::New(env, where + ": round must be below 2^28 - 1");
    // Image i draws as image offset + i of the whole set (a 32-bit key).
    const uint64_t offset = static_cast<uint64_t>(a.integer_or("offset", 0, 0, (int64_t{1} << 32) - count));
    const bool want_v = a.boolean_or("voltages", false);
    std::shared_ptr<seg::RecordRequest> rec = parse_record(a, count, false);
    auto recording = std::make_shared<seg::Recording>();
    const int64_t M = net_->config().num_layers();
    if (!a.has("round")) {
      pos.eval_round += 1;  // each default evaluation draws fresh spikes
      net_->set_position(pos);
    }
    const int64_t n_out = net_->config().n_out();
    auto pred = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(count));
    auto volt = std::make_shared<std::vector<float>>(want_v ? static_cast<size_t>(count * n_out) : 0);
    std::shared_ptr<seg::Network> net = net_;
    const Buffer<uint8_t> px = images.buffer;  // the call's copy (Args)
    return launch(env, info.This().As<Napi::Object>(), "evaluate",
                  [net, px, count, round, offset, pred, volt, want_v, rec, recording] {
                    if (rec) net->evaluate_recorded(px.data(), count, round, pred->data(), want_v ? volt->data() : nullptr, *rec, *recording, offset);
                    else net->evaluate(px.data(), count, round, pred->data(), want_v ? volt->data() : nullptr, offset);
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
  // The job owns what it uses (the network through a shared_ptr, the inputs as copies).
  Napi::Value launch(Napi::Env env, Napi::Object self, const char* method, std::function<void()> job,
                     std::function<Napi::Value(Napi::Env)> finish) {
    ClassJob j;
    j.self = self;
    j.busy = &busy_;
    j.cpu = device_ == "cpu";
    j.run = std::move(job);
    j.finish = std::move(finish);
    j.context = fn(method) + ": ";
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
    Args a(info, where, {"learningRates", "feedbackLearningRates"});
    // Ranges and counts: seg::validate, as for the constructor.
    std::vector<double> f = a.has("learningRates") ? a.reals("learningRates") : net_->config().f_etas;
    std::vector<double> b = a.has("feedbackLearningRates") ? a.reals("feedbackLearningRates") : net_->config().b_etas;
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
    Args a(info, where, {"epoch", "example", "evalRound"});
    seg::Position p = net_->position();
    const int64_t max_epoch = static_cast<int64_t>(seg::kMaxEpoch) - 1;
    p.epoch = static_cast<uint64_t>(a.integer_or("epoch", static_cast<int64_t>(p.epoch), 0, max_epoch));
    p.example = static_cast<uint64_t>(a.integer_or("example", static_cast<int64_t>(p.example), 0, 0xffffffffll));
    p.eval_round = static_cast<uint64_t>(a.integer_or("evalRound", static_cast<int64_t>(p.eval_round), 0, max_epoch));
    net_->set_position(p);
    return env.Undefined();
  }

  // permutation(epoch, n): the training order of an epoch (Fisher-Yates on the seeded shuffle stream).
  Napi::Value permutation(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string where = fn("permutation");
    // Two numbers, not an options object.
    auto as_int = [&](size_t i, const char* name, int64_t hi) {
      if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(env, where + ": " + name + " must be an integer");
      const double d = info[i].As<Napi::Number>().DoubleValue();
      if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > static_cast<double>(hi)) {
        throw Napi::RangeError::New(env, where + ": " + name + " must be an integer in [0, " + std::to_string(hi) + "]");
      }
      return static_cast<int64_t>(d);
    };
    if (!net_) throw Napi::Error::New(env, where + ": the network was disposed");
    const int64_t epoch = as_int(0, "epoch", static_cast<int64_t>(seg::kMaxEpoch) - 1);
    const int64_t n = as_int(1, "n", 2147483647);
    const std::vector<int32_t> p = seg::permutation(net_->config().seed, static_cast<uint64_t>(epoch), n);
    auto out = Napi::Int32Array::New(env, p.size());
    for (size_t i = 0; i < p.size(); ++i) out.Data()[i] = p[i];
    return out;
  }

  Napi::Value config(const Napi::CallbackInfo& info) {
    if (!net_) throw Napi::Error::New(info.Env(), fn("config") + ": the network was disposed");
    return config_to_js(info.Env(), net_->config());
  }
  Napi::Value busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }
  Napi::Value device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_); }

  std::shared_ptr<seg::Network> net_;  // shared with a running job; null once disposed
  ExternalMemory memory_;
  bool busy_ = false;
  std::string device_ = "cpu";  // where the network lives: "cpu" or "cuda:N"
};

}  // namespace

void register_segregated(Napi::Env env, Napi::Object exports) {
  exports.Set(kClass, SegWrap::define(env));
}

}  // namespace dendrite::bindings

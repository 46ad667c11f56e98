// The Sequential class: a native network (native/common/sequential.h) held by a JS object.
// Signatures: src/native.ts (NativeSequential).
//
// trainChunk, evaluate and gradients run on a worker thread and return promises; while one
// runs, the JS object is kept alive by a reference and every other call on the same object is
// refused (the network's buffers are in use). The other methods are synchronous. Every option
// is checked here on the main thread. A job owns what it reads (worker.h): the examples it uses
// are copied (gathered in order) from the JS arrays and their indices checked before it is queued,
// so later changes to the JS arrays (new values, a transfer, a resize) cannot reach it; and it
// holds the network through a shared_ptr.
//
// dispose() frees the network at once (refused while a job runs); an unreferenced network is freed
// by its finalizer. Its memory is reported to V8 as external memory (so dropped networks get
// collected) and handed back to the system when freed (ExternalMemory).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "bindings.h"
#include "common/error.h"
#include "common/sequential.h"
#include "worker.h"

namespace dendrite::bindings {
namespace {

constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
constexpr size_t kMaxLength = size_t{1} << 32;
constexpr uint32_t kMaxLayers = 1000;

std::string str(int64_t v) { return std::to_string(v); }

nn::LayerSpec parse_layer(Napi::Env env, Napi::Value v, uint32_t index) {
  const std::string where = "Sequential: layers[" + std::to_string(index) + "]";
  if (!v.IsObject() || v.IsArray()) throw Napi::TypeError::New(env, where + " must be an object with a type");
  Napi::Value t = v.As<Napi::Object>().Get("type");
  if (!t.IsString()) {
    throw Napi::TypeError::New(env, where + ".type must be a string (linear, conv2d, batchNorm, relu, maxPool2x2 or flatten)");
  }
  const std::string type = t.As<Napi::String>().Utf8Value();
  nn::LayerSpec l;
  if (type == "linear") {
    Args a(env, v, where, {"type", "outFeatures", "bias"});
    l.type = nn::LayerType::Linear;
    l.out_features = a.integer("outFeatures", 1, kMaxDim);
    l.bias = a.boolean_or("bias", true);
  } else if (type == "conv2d") {
    Args a(env, v, where, {"type", "outChannels", "kernel", "kernelH", "kernelW", "stride", "pad", "bias"});
    l.type = nn::LayerType::Conv2d;
    l.out_channels = a.integer("outChannels", 1, kMaxDim);
    if (a.has("kernel")) {
      if (a.has("kernelH") || a.has("kernelW")) a.type_error("kernel", "and kernelH/kernelW cannot both be given");
      l.kernel_h = l.kernel_w = a.integer("kernel", 1, kMaxDim);
    } else {
      if (!a.has("kernelH") && !a.has("kernelW")) a.type_error("kernel", "is required (an integer, or kernelH and kernelW)");
      l.kernel_h = a.integer("kernelH", 1, kMaxDim);
      l.kernel_w = a.integer("kernelW", 1, kMaxDim);
    }
    l.stride = a.integer_or("stride", 1, 1, kMaxDim);
    l.pad = a.integer_or("pad", 0, 0, kMaxDim);
    l.bias = a.boolean_or("bias", true);
  } else if (type == "batchNorm") {
    Args a(env, v, where, {"type", "eps", "momentum"});
    l.type = nn::LayerType::BatchNorm;
    l.eps = a.number_or("eps", 1e-5f, 1e-30, 1.0);
    l.momentum = a.number_or("momentum", 0.1f, 0.0, 1.0);
    if (!(l.eps > 0)) a.range_error("eps", "must be > 0");
  } else if (type == "relu" || type == "maxPool2x2" || type == "flatten") {
    Args a(env, v, where, {"type"});
    l.type = type == "relu" ? nn::LayerType::Relu : type == "flatten" ? nn::LayerType::Flatten : nn::LayerType::MaxPool2x2;
  } else {
    throw Napi::RangeError::New(env, where + ".type must be linear, conv2d, batchNorm, relu, maxPool2x2 or flatten, got \"" +
                                         type + "\"");
  }
  return l;
}

Napi::Float32Array float32_copy(Napi::Env env, const float* data, size_t n) {
  Napi::Float32Array a = Napi::Float32Array::New(env, n);
  if (n > 0) std::copy(data, data + n, a.Data());
  return a;
}

Napi::Array int_array(Napi::Env env, const std::vector<int64_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(v[i])));
  return a;
}

const char* group_name(nn::Group g) {
  return g == nn::Group::Param ? "params" : g == nn::Group::Buffer ? "buffers" : "feedback";
}

// A checked request for training or scoring: copies of the examples it uses, in order (the job
// reads examples 0..count-1 of them).
struct Request {
  Buffer<uint8_t> images;
  Buffer<uint8_t> labels;
  int64_t count = 0;
  nn::DataView data() const { return {images.data(), labels.data(), count}; }
};

// 0, 1, ..., n-1: the order of a gathered request.
std::shared_ptr<std::vector<int32_t>> identity(int64_t n) {
  auto v = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) (*v)[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  return v;
}

class SequentialWrap final : public Napi::ObjectWrap<SequentialWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Sequential",
                       {InstanceMethod<&SequentialWrap::guard<&SequentialWrap::train_chunk>>("trainChunk"),
                        InstanceMethod<&SequentialWrap::guard<&SequentialWrap::evaluate>>("evaluate"),
                        InstanceMethod<&SequentialWrap::guard<&SequentialWrap::gradients>>("gradients"),
                        InstanceMethod<&SequentialWrap::guard<&SequentialWrap::info>>("info"),
                        InstanceMethod<&SequentialWrap::guard<&SequentialWrap::get_state>>("getState"),
                        InstanceMethod<&SequentialWrap::guard<&SequentialWrap::set_state>>("setState"),
                        InstanceMethod<&SequentialWrap::guard<&SequentialWrap::get_weights>>("getWeights"),
                        InstanceMethod<&SequentialWrap::guard<&SequentialWrap::alignment>>("alignment"),
                        InstanceMethod<&SequentialWrap::guard<&SequentialWrap::dispose>>("dispose"),
                        InstanceAccessor<&SequentialWrap::busy>("busy")});
  }

  explicit SequentialWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SequentialWrap>(info) {
    js_errors(info.Env(), "Sequential: ", [&] { construct(info); });
  }
  // The finalizer (or environment teardown): a job cannot be running (it references this object).
  ~SequentialWrap() override { free_network(); }

 private:
  // Every method: native errors become JS errors.
  template <Napi::Value (SequentialWrap::*M)(const Napi::CallbackInfo&)>
  Napi::Value guard(const Napi::CallbackInfo& info) {
    return js_errors(info.Env(), "Sequential: ", [&] { return (this->*M)(info); });
  }

  // Queues a job on the network (worker.h): busy until it settles, CPU networks on the CPU executor.
  Napi::Promise queue(Napi::Env env, std::function<void(nn::Sequential&)> job, std::function<Napi::Value(Napi::Env)> finish) {
    std::shared_ptr<nn::Sequential> net = net_;
    ClassJob j;
    j.self = Value();
    j.busy = &busy_;
    j.cpu = net->backend().is_host();
    j.run = [net, job = std::move(job)] { job(*net); };
    j.finish = std::move(finish);
    j.context = "Sequential: ";
    return queue_class_job(env, std::move(j));
  }

  void construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info.IsConstructCall()) throw Napi::TypeError::New(env, "Sequential: use new Sequential({...})");
    Args args(info, "Sequential",
              {"input", "classes", "layers", "feedback", "optimizer", "batchSize", "seed", "device", "threads"});
    nn::Config c;
    if (!args.has("input")) args.type_error("input", "is required ({ channels, height, width })");
    Args in(env, args.value("input"), "Sequential: input", {"channels", "height", "width"});
    c.in_channels = in.integer("channels", 1, kMaxDim);
    c.in_h = in.integer("height", 1, kMaxDim);
    c.in_w = in.integer("width", 1, kMaxDim);
    c.classes = args.integer("classes", 2, kMaxDim);
    Napi::Value layers = args.value("layers");
    if (!layers.IsArray()) args.type_error("layers", "must be an array of layer objects");
    Napi::Array list = layers.As<Napi::Array>();
    if (list.Length() == 0 || list.Length() > kMaxLayers) {
      args.range_error("layers", "must hold 1 to " + std::to_string(kMaxLayers) + " layers, got " +
                                     std::to_string(list.Length()));
    }
    for (uint32_t i = 0; i < list.Length(); ++i) c.layers.push_back(parse_layer(env, list.Get(i), i));
    const std::string feedback = args.string_or("feedback", "backprop");
    if (feedback == "backprop") c.feedback = nn::Feedback::Backprop;
    else if (feedback == "fa") c.feedback = nn::Feedback::Alignment;
    else if (feedback == "dfa") c.feedback = nn::Feedback::Direct;
    else args.range_error("feedback", "must be backprop, fa or dfa, got \"" + feedback + "\"");
    if (args.has("optimizer")) parse_optimizer(env, args.value("optimizer"), c);
    c.batch_size = args.integer("batchSize", 1, kMaxDim);
    c.seed = args.u64_or("seed", 0);
    Target target = args.target();
    std::unique_ptr<Backend> backend = target.device.kind == DeviceKind::Cuda ? make_cuda_backend(target.device.index)
                                                                               : make_cpu_backend(target.threads);
    int64_t bytes = 0;
    net_ = ExternalMemory::measured([&] { return std::make_shared<nn::Sequential>(c, std::move(backend)); }, &bytes);
    // At least its tensors (where the heap cannot be measured, e.g. under a sanitizer).
    const int64_t tensors = 4 * (net_->param_count() + net_->buffer_count() + net_->feedback_count());
    memory_.report(env, std::max(bytes, tensors));
    device_ = target.device.kind == DeviceKind::Cuda ? "cuda:" + std::to_string(target.device.index) : "cpu";
    threads_ = target.threads;
  }

  static void parse_optimizer(Napi::Env env, Napi::Value v, nn::Config& c) {
    const std::string where = "Sequential: optimizer";
    if (!v.IsObject() || v.IsArray()) throw Napi::TypeError::New(env, where + " must be an object with a type");
    Napi::Value t = v.As<Napi::Object>().Get("type");
    const std::string type = t.IsString() ? t.As<Napi::String>().Utf8Value() : "";
    if (type == "adam") {
      Args a(env, v, where, {"type", "lr", "beta1", "beta2", "eps", "weightDecay"});
      c.optimizer = nn::OptimizerKind::Adam;
      c.adam.lr = a.number_or("lr", 1e-3f, 1e-30, 1e6);
      c.adam.beta1 = a.number_or("beta1", 0.9f, 0.0, 0.9999999);
      c.adam.beta2 = a.number_or("beta2", 0.999f, 0.0, 0.9999999);
      c.adam.eps = a.number_or("eps", 1e-8f, 1e-30, 1.0);
      c.adam.weight_decay = a.number_or("weightDecay", 0.0f, 0.0, 1e6);
      if (!(c.adam.lr > 0)) a.range_error("lr", "must be > 0");
      if (!(c.adam.eps > 0)) a.range_error("eps", "must be > 0");
      if (!(c.adam.beta1 < 1.0f)) a.range_error("beta1", "must be < 1");
      if (!(c.adam.beta2 < 1.0f)) a.range_error("beta2", "must be < 1");
    } else if (type == "sgd") {
      Args a(env, v, where, {"type", "lr", "momentum", "weightDecay"});
      c.optimizer = nn::OptimizerKind::Sgd;
      c.sgd.lr = a.number("lr", 1e-30, 1e6);
      c.sgd.momentum = a.number_or("momentum", 0.0f, 0.0, 1.0);
      c.sgd.weight_decay = a.number_or("weightDecay", 0.0f, 0.0, 1e6);
      if (!(c.sgd.lr > 0)) a.range_error("lr", "must be > 0");
    } else {
      throw Napi::TypeError::New(env, where + ".type must be \"adam\" or \"sgd\"");
    }
  }

  // Refuses a call while a job runs or after dispose().
  void check_usable(Napi::Env env, const char* fn) const {
    if (!net_) throw Napi::Error::New(env, std::string("Sequential.") + fn + ": the network was disposed");
    if (busy_) {
      throw Napi::Error::New(env, std::string("Sequential.") + fn +
                                      ": another call on this network is still running (await it first)");
    }
  }

  // images / labels / order / start / count, checked against this network; the examples used are
  // copied in order.
  Request request(const Args& a, bool order_required) {
    const int64_t example = net_->config().in_channels * net_->config().in_h * net_->config().in_w;
    const size_t pixels = a.uint8_length("images", kMaxLength);
    if (pixels % static_cast<size_t>(example) != 0) {
      a.range_error("images", "has length " + std::to_string(pixels) + ", not a multiple of the example size " +
                                  str(example) + " (channels*height*width)");
    }
    const int64_t n = static_cast<int64_t>(pixels) / example;
    const auto labels = a.uint8("labels", static_cast<size_t>(n));

    const int64_t classes = net_->config().classes;
    int64_t total = n;
    ArrayArg<int32_t> order;
    if (a.has("order") || order_required) {
      order = a.int32_any("order", kMaxLength);
      total = static_cast<int64_t>(order.length);
    }
    const int64_t start = a.integer_or("start", 0, 0, total);
    const int64_t count = a.integer_or("count", total - start, 0, total - start);
    std::vector<int32_t> rows(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) {
      const int64_t idx = order ? order.data[start + k] : start + k;
      if (idx < 0 || idx >= n) {
        a.range_error("order[" + str(start + k) + "]", "= " + str(idx) + " is outside [0, " + str(n) + ") (the examples in images)");
      }
      if (labels.data[idx] >= classes) {
        a.range_error("labels[" + str(idx) + "]", "= " + str(labels.data[idx]) + " is outside [0, classes) = [0, " +
                                                      str(classes) + ")");
      }
      rows[static_cast<size_t>(k)] = static_cast<int32_t>(idx);
    }
    Request r;
    r.count = count;
    r.images = a.uint8_rows("images", static_cast<size_t>(example), rows);
    r.labels = Buffer<uint8_t>::uninitialized(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) r.labels[static_cast<size_t>(k)] = labels.data[rows[static_cast<size_t>(k)]];
    return r;
  }

  // trainChunk({ images, labels, order, start?, count? })
  //   -> { examples, lossSum, correct, batchSize: Int32Array, batchLoss: Float64Array, batchCorrect: Int32Array, step }
  Napi::Value train_chunk(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_usable(env, "trainChunk");
    Args a(info, "Sequential.trainChunk", {"images", "labels", "order", "start", "count"});
    const Request r = request(a, true);
    auto stats = std::make_shared<nn::ChunkStats>();
    auto order = identity(r.count);
    std::shared_ptr<nn::Sequential> network = net_;
    return queue(
        env,
        [=](nn::Sequential& net) { net.train(r.data(), order->data(), r.count, *stats); },
        [=](Napi::Env e) -> Napi::Value {
          const size_t nb = stats->batch_size.size();
          Napi::Object o = Napi::Object::New(e);
          Napi::Int32Array sizes = Napi::Int32Array::New(e, nb), correct = Napi::Int32Array::New(e, nb);
          Napi::Float64Array loss = Napi::Float64Array::New(e, nb);
          double loss_sum = 0;
          int64_t examples = 0, right = 0;
          for (size_t b = 0; b < nb; ++b) {
            sizes[b] = stats->batch_size[b];
            correct[b] = stats->batch_correct[b];
            loss[b] = stats->batch_loss[b];
            loss_sum += stats->batch_loss[b] * stats->batch_size[b];
            examples += stats->batch_size[b];
            right += stats->batch_correct[b];
          }
          o.Set("examples", Napi::Number::New(e, static_cast<double>(examples)));
          o.Set("lossSum", Napi::Number::New(e, loss_sum));
          o.Set("correct", Napi::Number::New(e, static_cast<double>(right)));
          o.Set("batchSize", sizes);
          o.Set("batchLoss", loss);
          o.Set("batchCorrect", correct);
          o.Set("step", Napi::Number::New(e, static_cast<double>(network->step())));
          return o;
        });
  }

  // evaluate({ images, labels, order?, start?, count?, predictions? })
  //   -> { count, correct, accuracy, loss, lossSum, predictions?: Int32Array }
  Napi::Value evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_usable(env, "evaluate");
    Args a(info, "Sequential.evaluate", {"images", "labels", "order", "start", "count", "predictions"});
    const bool want_predictions = a.boolean_or("predictions", false);
    const Request r = request(a, false);
    auto stats = std::make_shared<nn::EvalStats>();
    auto order = identity(r.count);
    const Buffer<int32_t> predictions = Buffer<int32_t>::zeros(want_predictions ? static_cast<size_t>(r.count) : 0);
    return queue(
        env,
        [=](nn::Sequential& net) {
          net.evaluate(r.data(), order->data(), r.count, *stats, want_predictions ? predictions.data() : nullptr);
        },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          const double n = static_cast<double>(stats->count);
          o.Set("count", Napi::Number::New(e, n));
          o.Set("correct", Napi::Number::New(e, static_cast<double>(stats->correct)));
          o.Set("accuracy", Napi::Number::New(e, n > 0 ? static_cast<double>(stats->correct) / n : NAN));
          o.Set("lossSum", Napi::Number::New(e, stats->loss_sum));
          o.Set("loss", Napi::Number::New(e, n > 0 ? stats->loss_sum / n : NAN));
          if (want_predictions) o.Set("predictions", hand_over(e, predictions));
          return o;
        });
  }

  // gradients({ images, labels, order?, start?, count? }) -> { loss, grads: Float32Array(paramCount) }
  Napi::Value gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_usable(env, "gradients");
    Args a(info, "Sequential.gradients", {"images", "labels", "order", "start", "count"});
    const Request r = request(a, false);
    if (r.count == 0 || r.count > net_->config().batch_size) {
      a.range_error("count", "must be in [1, batchSize = " + str(net_->config().batch_size) + "], got " + str(r.count));
    }
    const Buffer<float> grads = Buffer<float>::zeros(static_cast<size_t>(net_->param_count()));
    auto loss = std::make_shared<double>(0.0);
    auto order = identity(r.count);
    return queue(
        env, [=](nn::Sequential& net) { *loss = net.gradients(r.data(), order->data(), r.count, grads.data()); },
        [=](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          o.Set("loss", Napi::Number::New(e, *loss));
          o.Set("grads", hand_over(e, grads));
          return o;
        });
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!net_) throw Napi::Error::New(env, "Sequential.info: the network was disposed");
    Napi::Object o = Napi::Object::New(env);
    Napi::Array shapes = Napi::Array::New(env, net_->shapes().size());
    for (size_t i = 0; i < net_->shapes().size(); ++i) {
      const nn::Shape& s = net_->shapes()[i];
      Napi::Object so = Napi::Object::New(env);
      so.Set("type", nn::layer_type_name(net_->config().layers[i].type));
      so.Set("shape", s.flat ? int_array(env, {s.c}) : int_array(env, {s.c, s.h, s.w}));
      shapes.Set(static_cast<uint32_t>(i), so);
    }
    o.Set("layers", shapes);
    Napi::Array tensors = Napi::Array::New(env, net_->tensors().size());
    for (size_t i = 0; i < net_->tensors().size(); ++i) {
      const nn::TensorInfo& t = net_->tensors()[i];
      Napi::Object to = Napi::Object::New(env);
      to.Set("layer", Napi::Number::New(env, static_cast<double>(t.layer)));
      to.Set("kind", t.kind);
      to.Set("shape", int_array(env, t.shape));
      to.Set("group", group_name(t.group));
      to.Set("offset", Napi::Number::New(env, static_cast<double>(t.offset)));
      to.Set("size", Napi::Number::New(env, static_cast<double>(t.size)));
      tensors.Set(static_cast<uint32_t>(i), to);
    }
    o.Set("tensors", tensors);
    o.Set("paramCount", Napi::Number::New(env, static_cast<double>(net_->param_count())));
    o.Set("bufferCount", Napi::Number::New(env, static_cast<double>(net_->buffer_count())));
    o.Set("feedbackCount", Napi::Number::New(env, static_cast<double>(net_->feedback_count())));
    o.Set("step", Napi::Number::New(env, static_cast<double>(net_->step())));
    o.Set("device", device_);
    o.Set("threads", threads_);
    return o;
  }

  // Runs a synchronous accessor, turning native errors into JS errors.
  template <class F>
  Napi::Value sync(Napi::Env env, const char* fn, F f) {
    check_usable(env, fn);
    return js_errors(env, std::string("Sequential.") + fn + ": ", f);
  }

  // getState() -> { params, buffers, feedback, moment1, moment2, step }
  Napi::Value get_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return sync(env, "getState", [&]() -> Napi::Value {
      const nn::State s = net_->state();
      Napi::Object o = Napi::Object::New(env);
      o.Set("params", float32_copy(env, s.params.data(), s.params.size()));
      o.Set("buffers", float32_copy(env, s.buffers.data(), s.buffers.size()));
      o.Set("feedback", float32_copy(env, s.feedback.data(), s.feedback.size()));
      o.Set("moment1", float32_copy(env, s.moment1.data(), s.moment1.size()));
      o.Set("moment2", float32_copy(env, s.moment2.data(), s.moment2.size()));
      o.Set("step", Napi::Number::New(env, static_cast<double>(s.step)));
      return o;
    });
  }

  // setState({ params, buffers, feedback, moment1, moment2, step }): every array with the exact
  // length getState() gives (moment arrays empty where the optimiser keeps none).
  Napi::Value set_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_usable(env, "setState");
    Args a(info, "Sequential.setState", {"params", "buffers", "feedback", "moment1", "moment2", "step"});
    const nn::Sequential& net = *net_;
    const size_t np = static_cast<size_t>(net.param_count());
    const nn::Config& c = net.config();
    const bool adam = c.optimizer == nn::OptimizerKind::Adam;
    const size_t m1 = adam || c.sgd.momentum != 0.0f ? np : 0, m2 = adam ? np : 0;
    nn::State s;
    auto take = [&](const char* key, size_t n, std::vector<float>& out) {
      auto arr = a.float32(key, n);
      out.assign(arr.data, arr.data + n);
    };
    take("params", np, s.params);
    take("buffers", static_cast<size_t>(net.buffer_count()), s.buffers);
    take("feedback", static_cast<size_t>(net.feedback_count()), s.feedback);
    take("moment1", m1, s.moment1);
    take("moment2", m2, s.moment2);
    s.step = a.integer("step", 0, int64_t{1} << 53);
    return sync(env, "setState", [&]() -> Napi::Value {
      net_->set_state(s);
      return env.Undefined();
    });
  }

  // getWeights() -> [{ layer, kind, shape, data }] (parameters, running statistics, feedback)
  Napi::Value get_weights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return sync(env, "getWeights", [&]() -> Napi::Value {
      const nn::State s = net_->state();
      const auto& ts = net_->tensors();
      Napi::Array list = Napi::Array::New(env, ts.size());
      for (size_t i = 0; i < ts.size(); ++i) {
        const nn::TensorInfo& t = ts[i];
        const std::vector<float>& src = t.group == nn::Group::Param ? s.params : t.group == nn::Group::Buffer ? s.buffers : s.feedback;
        Napi::Object o = Napi::Object::New(env);
        o.Set("layer", Napi::Number::New(env, static_cast<double>(t.layer)));
        o.Set("kind", t.kind);
        o.Set("shape", int_array(env, t.shape));
        o.Set("data", float32_copy(env, src.data() + t.offset, static_cast<size_t>(t.size)));
        list.Set(static_cast<uint32_t>(i), o);
      }
      return list;
    });
  }

  // alignment() -> [{ layer, angleDeg, normForward, normFeedback }] (empty for backprop)
  Napi::Value alignment(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return sync(env, "alignment", [&]() -> Napi::Value {
      const std::vector<nn::Alignment> al = net_->alignment();
      Napi::Array list = Napi::Array::New(env, al.size());
      for (size_t i = 0; i < al.size(); ++i) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("layer", Napi::Number::New(env, static_cast<double>(al[i].layer)));
        o.Set("angleDeg", Napi::Number::New(env, al[i].angle_deg));
        o.Set("normForward", Napi::Number::New(env, al[i].norm_forward));
        o.Set("normFeedback", Napi::Number::New(env, al[i].norm_feedback));
        list.Set(static_cast<uint32_t>(i), o);
      }
      return list;
    });
  }

  // dispose(): frees the network's memory now (host or device); later calls throw. Refused while a
  // job runs (await it first); a second dispose() does nothing.
  Napi::Value dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (busy_) throw Napi::Error::New(env, "Sequential.dispose: a call on this network is still running (await it first)");
    free_network();
    return env.Undefined();
  }

  void free_network() noexcept {
    if (!net_) return;
    net_.reset();
    memory_.release();
  }

  Napi::Value busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }

  std::shared_ptr<nn::Sequential> net_;  // shared with a running job
  ExternalMemory memory_;
  bool busy_ = false;
  std::string device_;
  int threads_ = 1;
};

}  // namespace

void register_sequential(Napi::Env env, Napi::Object exports) {
  exports.Set("Sequential", SequentialWrap::define(env));
}

}  // namespace dendrite::bindings

// Neural-network kernels: unary, rowSums, colSums, softmaxCrossEntropy, conv2dForward,
// conv2dBackward, maxPool2x2Forward, maxPool2x2Backward, batchNormForward, batchNormBackward,
// sgdUpdate, adamUpdate. Signatures: src/native.ts.
//
// Every argument is checked here on the main thread (bad ones throw synchronously); the job
// then runs on a worker through HostStaging, so the same code serves every backend. Integer
// data that kernels index with (labels, argmax) is checked and copied first, so a later change
// to the JS array cannot make a kernel read or write out of bounds.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "bindings.h"
#include "common/staging.h"
#include "worker.h"

namespace dendrite::bindings {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr size_t kMaxLength = size_t{1} << 32;
constexpr double kFloatMax = 3.4028234663852886e38;

std::string str(int64_t v) { return std::to_string(v); }

// A required string option (string_or cannot tell "absent" from a given fallback).
std::string required_string(const Args& args, const char* key, const std::string& expected) {
  static const std::string kAbsent("\x01");
  std::string s = args.string_or(key, kAbsent);
  if (s == kAbsent) args.type_error(key, "is required (" + expected + ")");
  return s;
}

// True when the option was given: number_or returns its NaN fallback only when it is absent.
bool given_number(const Args& args, const char* key) { return !std::isnan(args.number_or(key, NAN, -kFloatMax, kFloatMax)); }

// Arrays updated in place must not share memory with any other array of the call: on the CPU
// the result would depend on the order elements are visited.
struct Span {
  const char* name;
  const void* data;
  size_t bytes;
  bool written;
};
void check_disjoint(const Args& args, std::initializer_list<Span> spans) {
  for (auto a = spans.begin(); a != spans.end(); ++a)
    for (auto b = a + 1; b != spans.end(); ++b) {
      if (!(a->written || b->written) || a->data == nullptr || b->data == nullptr || a->bytes == 0 || b->bytes == 0)
        continue;
      const auto a0 = reinterpret_cast<uintptr_t>(a->data), b0 = reinterpret_cast<uintptr_t>(b->data);
      if (a0 < b0 + b->bytes && b0 < a0 + a->bytes) {
        args.range_error(a->name, std::string("shares memory with ") + b->name + " (arrays updated in place must not overlap)");
      }
    }
}

Napi::Promise undefined_when_done(Napi::Env env, const Target& target, std::vector<Napi::Value> keep,
                                  PromiseWorker::Job job) {
  // The promise resolves with undefined; a reference needs an object, so hold the first array.
  Napi::Value holder = keep.front();
  return PromiseWorker::queue(env, target, std::move(keep), std::move(job), holder,
                              [](Napi::Env e, Napi::Value) -> Napi::Value { return e.Undefined(); });
}

// ---------------------------------------------------------------------------------------------
// unary({ op, x, scale?, shift? }) -> Float32Array
Napi::Value unary(const Napi::CallbackInfo& info) {
  Args args(info, "unary", {"op", "x", "scale", "shift", "device", "threads"});
  const char* kOps = "sigmoid, sigmoidGrad, relu, reluGrad or scaleShift";
  const std::string name = required_string(args, "op", kOps);
  UnaryOp op = UnaryOp::Sigmoid;
  if (name == "sigmoid") op = UnaryOp::Sigmoid;
  else if (name == "sigmoidGrad") op = UnaryOp::SigmoidGrad;
  else if (name == "relu") op = UnaryOp::Relu;
  else if (name == "reluGrad") op = UnaryOp::ReluGrad;
  else if (name == "scaleShift") op = UnaryOp::ScaleShift;
  else args.range_error("op", "must be one of " + std::string(kOps) + ", got \"" + name + "\"");
  float scale = 1.0f, shift = 0.0f;
  if (op == UnaryOp::ScaleShift) {
    scale = args.number_or("scale", 1.0f, -kFloatMax, kFloatMax);
    shift = args.number_or("shift", 0.0f, -kFloatMax, kFloatMax);
  } else {
    for (const char* key : {"scale", "shift"})
      if (given_number(args, key)) args.type_error(key, "only applies to op \"scaleShift\", not \"" + name + "\"");
  }
  auto x = args.float32_any("x", kMaxLength);
  Target target = args.target();

  const size_t n = x.length;
  Napi::Float32Array out = Napi::Float32Array::New(args.env(), n);
  float* y = out.Data();
  return PromiseWorker::queue(
      args.env(), target, {x.value},
      [=](Backend& be) {
        HostStaging st(be);
        be.unary(op, static_cast<int64_t>(n), st.in(x.data, n), st.out(y, n), scale, shift);
        st.finish();
      },
      out);
}

// rowSums({ a, rows, cols }) -> Float32Array(rows);  colSums(...) -> Float32Array(cols)
template <bool kRows>
Napi::Value sums(const Napi::CallbackInfo& info) {
  const char* fn = kRows ? "rowSums" : "colSums";
  Args args(info, fn, {"a", "rows", "cols", "device", "threads"});
  const int64_t rows = args.integer("rows", 1, kMaxDim), cols = args.integer("cols", 1, kMaxDim);
  auto a = args.float32("a", args.product({rows, cols}, "a (rows*cols)"));
  Target target = args.target();

  const size_t n = static_cast<size_t>(kRows ? rows : cols);
  Napi::Float32Array out = Napi::Float32Array::New(args.env(), n);
  float* o = out.Data();
  return PromiseWorker::queue(
      args.env(), target, {a.value},
      [=](Backend& be) {
        HostStaging st(be);
        const float* da = st.in(a.data, a.length);
        float* dout = st.out(o, n);
        if constexpr (kRows) be.row_sums(rows, cols, da, dout);
        else be.col_sums(rows, cols, da, dout);
        st.finish();
      },
      out);
}

// softmaxCrossEntropy({ logits, labels, batch, classes }) -> { loss, losses, grad }
Napi::Value softmax_cross_entropy(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxCrossEntropy", {"logits", "labels", "batch", "classes", "device", "threads"});
  const int64_t batch = args.integer("batch", 1, kMaxDim), classes = args.integer("classes", 1, kMaxDim);
  const size_t size = args.product({batch, classes}, "logits (batch*classes)");
  auto logits = args.float32("logits", size);
  auto labels_arg = args.int32("labels", static_cast<size_t>(batch));
  auto labels = std::make_shared<std::vector<int32_t>>(labels_arg.data, labels_arg.data + batch);
  for (int64_t b = 0; b < batch; ++b) {
    const int32_t l = (*labels)[static_cast<size_t>(b)];
    if (l < 0 || l >= classes) {
      args.range_error("labels[" + str(b) + "]", "= " + str(l) + " is outside [0, classes) = [0, " + str(classes) + ")");
    }
  }
  Target target = args.target();

  Napi::Env env = args.env();
  Napi::Float32Array losses = Napi::Float32Array::New(env, static_cast<size_t>(batch));
  Napi::Float32Array grad = Napi::Float32Array::New(env, size);
  Napi::Object result = Napi::Object::New(env);
  result.Set("loss", 0.0);
  result.Set("losses", losses);
  result.Set("grad", grad);
  float* dl = losses.Data();
  float* dg = grad.Data();
  return PromiseWorker::queue(
      env, target, {logits.value},
      [=](Backend& be) {
        HostStaging st(be);
        be.softmax_cross_entropy(batch, classes, st.in(logits.data, size), st.in(labels->data(), labels->size()),
                                 st.out(dl, static_cast<size_t>(batch)), st.out(dg, size));
        st.finish();
      },
      result,
      [=](Napi::Env e, Napi::Value r) -> Napi::Value {
        // loss = mean of the per-example losses, summed in double in index order.
        double s = 0;
        for (int64_t b = 0; b < batch; ++b) s += dl[b];
        r.As<Napi::Object>().Set("loss", Napi::Number::New(e, s / static_cast<double>(batch)));
        return r;
      });
}

// ---------------------------------------------------------------------------------------------
// Convolution geometry: every size >= 1, stride >= 1, pad >= 0, kernel within the padded input.
Conv2dShape conv_shape(const Args& args) {
  Conv2dShape s;
  s.batch = args.integer("batch", 1, kMaxDim);
  s.in_channels = args.integer("inChannels", 1, kMaxDim);
  s.in_h = args.integer("inH", 1, kMaxDim);
  s.in_w = args.integer("inW", 1, kMaxDim);
  s.out_channels = args.integer("outChannels", 1, kMaxDim);
  s.kernel_h = args.integer("kernelH", 1, kMaxDim);
  s.kernel_w = args.integer("kernelW", 1, kMaxDim);
  s.stride = args.integer_or("stride", 1, 1, kMaxDim);
  s.pad = args.integer_or("pad", 0, 0, kMaxDim);
  if (s.kernel_h > s.in_h + 2 * s.pad) {
    args.range_error("kernelH", "(" + str(s.kernel_h) + ") is larger than the padded input height inH + 2 * pad = " +
                                    str(s.in_h) + " + 2 * " + str(s.pad) + " = " + str(s.in_h + 2 * s.pad));
  }
  if (s.kernel_w > s.in_w + 2 * s.pad) {
    args.range_error("kernelW", "(" + str(s.kernel_w) + ") is larger than the padded input width inW + 2 * pad = " +
                                    str(s.in_w) + " + 2 * " + str(s.pad) + " = " + str(s.in_w + 2 * s.pad));
  }
  // The im2col buffer of one image must be addressable too.
  args.product({s.in_channels, s.kernel_h, s.kernel_w, s.out_h(), s.out_w()},
               "inChannels*kernelH*kernelW*outH*outW (im2col buffer)");
  return s;
}

// conv2dForward({ ...ConvShape, x, w, bias? }) -> Float32Array y[batch, outChannels, outH, outW]
Napi::Value conv2d_forward(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dForward",
            {"batch", "inChannels", "inH", "inW", "outChannels", "kernelH", "kernelW", "stride", "pad", "x", "w",
             "bias", "device", "threads"});
  const Conv2dShape s = conv_shape(args);
  auto x = args.float32("x", args.product({s.batch, s.in_channels, s.in_h, s.in_w}, "x (batch*inChannels*inH*inW)"));
  auto w = args.float32("w", args.product({s.out_channels, s.in_channels, s.kernel_h, s.kernel_w},
                                          "w (outChannels*inChannels*kernelH*kernelW)"));
  auto bias = args.float32_optional("bias", static_cast<size_t>(s.out_channels));
  const size_t ny = args.product({s.batch, s.out_channels, s.out_h(), s.out_w()}, "y (batch*outChannels*outH*outW)");
  Target target = args.target();

  Napi::Float32Array out = Napi::Float32Array::New(args.env(), ny);
  float* y = out.Data();
  return PromiseWorker::queue(
      args.env(), target, {x.value, w.value, bias.value},
      [=](Backend& be) {
        HostStaging st(be);
        be.conv2d_forward(s, st.in(x.data, x.length), st.in(w.data, w.length), st.in(bias.data, bias.length),
                          st.out(y, ny));
        st.finish();
      },
      out);
}

// conv2dBackward({ ...ConvShape, x, w, dy, inputGrad?, biasGrad? }) -> { dx?, dw, db? }
Napi::Value conv2d_backward(const Napi::CallbackInfo& info) {
  Args args(info, "conv2dBackward",
            {"batch", "inChannels", "inH", "inW", "outChannels", "kernelH", "kernelW", "stride", "pad", "x", "w",
             "dy", "inputGrad", "biasGrad", "device", "threads"});
  const Conv2dShape s = conv_shape(args);
  auto x = args.float32("x", args.product({s.batch, s.in_channels, s.in_h, s.in_w}, "x (batch*inChannels*inH*inW)"));
  auto w = args.float32("w", args.product({s.out_channels, s.in_channels, s.kernel_h, s.kernel_w},
                                          "w (outChannels*inChannels*kernelH*kernelW)"));
  auto dy =
      args.float32("dy", args.product({s.batch, s.out_channels, s.out_h(), s.out_w()}, "dy (batch*outChannels*outH*outW)"));
  const bool want_dx = args.boolean_or("inputGrad", true), want_db = args.boolean_or("biasGrad", true);
  Target target = args.target();

  Napi::Env env = args.env();
  Napi::Object result = Napi::Object::New(env);
  float* dx = nullptr;
  float* db = nullptr;
  if (want_dx) {
    Napi::Float32Array a = Napi::Float32Array::New(env, x.length);
    dx = a.Data();
    result.Set("dx", a);
  }
  Napi::Float32Array dw_arr = Napi::Float32Array::New(env, w.length);
  float* dw = dw_arr.Data();
  result.Set("dw", dw_arr);
  const size_t nb = static_cast<size_t>(s.out_channels);
  if (want_db) {
    Napi::Float32Array a = Napi::Float32Array::New(env, nb);
    db = a.Data();
    result.Set("db", a);
  }
  return PromiseWorker::queue(
      env, target, {x.value, w.value, dy.value},
      [=](Backend& be) {
        HostStaging st(be);
        be.conv2d_backward(s, st.in(x.data, x.length), st.in(w.data, w.length), st.in(dy.data, dy.length),
                           st.out(dx, x.length), st.out(dw, w.length), st.out(db, nb));
        st.finish();
      },
      result);
}

// ---------------------------------------------------------------------------------------------
Pool2dShape pool_shape(const Args& args) {
  Pool2dShape s;
  s.batch = args.integer("batch", 1, kMaxDim);
  s.channels = args.integer("channels", 1, kMaxDim);
  // 2x2 windows need at least two rows and columns (PyTorch: "output size is too small").
  s.in_h = args.integer("inH", 2, kMaxDim);
  s.in_w = args.integer("inW", 2, kMaxDim);
  // argmax holds in-plane indices as int32.
  if (s.in_h * s.in_w > INT32_MAX) {
    args.range_error("inH", "* inW = " + str(s.in_h * s.in_w) + " exceeds the int32 range of argmax indices");
  }
  return s;
}

// maxPool2x2Forward({ ...PoolShape, x }) -> { y, argmax }
Napi::Value maxpool_forward(const Napi::CallbackInfo& info) {
  Args args(info, "maxPool2x2Forward", {"batch", "channels", "inH", "inW", "x", "device", "threads"});
  const Pool2dShape s = pool_shape(args);
  auto x = args.float32("x", args.product({s.batch, s.channels, s.in_h, s.in_w}, "x (batch*channels*inH*inW)"));
  const size_t ny = args.product({s.batch, s.channels, s.out_h(), s.out_w()}, "y (batch*channels*outH*outW)");
  Target target = args.target();

  Napi::Env env = args.env();
  Napi::Float32Array y = Napi::Float32Array::New(env, ny);
  Napi::Int32Array argmax = Napi::Int32Array::New(env, ny);
  Napi::Object result = Napi::Object::New(env);
  result.Set("y", y);
  result.Set("argmax", argmax);
  float* dy = y.Data();
  int32_t* da = argmax.Data();
  return PromiseWorker::queue(
      env, target, {x.value},
      [=](Backend& be) {
        HostStaging st(be);
        be.maxpool2x2_forward(s, st.in(x.data, x.length), st.out(dy, ny), st.out(da, ny));
        st.finish();
      },
      result);
}

// maxPool2x2Backward({ ...PoolShape, dy, argmax }) -> Float32Array dx
Napi::Value maxpool_backward(const Napi::CallbackInfo& info) {
  Args args(info, "maxPool2x2Backward", {"batch", "channels", "inH", "inW", "dy", "argmax", "device", "threads"});
  const Pool2dShape s = pool_shape(args);
  const size_t ny = args.product({s.batch, s.channels, s.out_h(), s.out_w()}, "dy (batch*channels*outH*outW)");
  auto dy = args.float32("dy", ny);
  auto argmax_arg = args.int32("argmax", ny);
  // Each index must lie in its own 2x2 window: then every input receives at most one gradient.
  auto argmax = std::make_shared<std::vector<int32_t>>(argmax_arg.data, argmax_arg.data + ny);
  const int64_t oh = s.out_h(), ow = s.out_w(), plane_out = oh * ow;
  for (size_t i = 0; i < ny; ++i) {
    const int64_t a = (*argmax)[i], q = static_cast<int64_t>(i) % plane_out, oy = q / ow, ox = q % ow;
    if (a < 0 || a >= s.in_h * s.in_w || (a / s.in_w) / 2 != oy || (a % s.in_w) / 2 != ox) {
      args.range_error("argmax[" + str(static_cast<int64_t>(i)) + "]", "= " + str(a) +
                                     " is not an index of its 2x2 window (rows " + str(2 * oy) + "-" +
                                     str(2 * oy + 1) + ", columns " + str(2 * ox) + "-" + str(2 * ox + 1) +
                                     " of a " + str(s.in_h) + "x" + str(s.in_w) + " plane)");
    }
  }
  const size_t nx = args.product({s.batch, s.channels, s.in_h, s.in_w}, "dx (batch*channels*inH*inW)");
  Target target = args.target();

  Napi::Float32Array out = Napi::Float32Array::New(args.env(), nx);
  float* dx = out.Data();
  return PromiseWorker::queue(
      args.env(), target, {dy.value},
      [=](Backend& be) {
        HostStaging st(be);
        be.maxpool2x2_backward(s, st.in(dy.data, ny), st.in(argmax->data(), ny), st.out(dx, nx));
        st.finish();
      },
      out);
}

// ---------------------------------------------------------------------------------------------
BatchNormShape bn_shape(const Args& args) {
  BatchNormShape s;
  s.batch = args.integer("batch", 1, kMaxDim);
  s.channels = args.integer("channels", 1, kMaxDim);
  s.spatial = args.integer_or("spatial", 1, 1, kMaxDim);
  s.eps = args.number_or("eps", 1e-5f, 0.0, kFloatMax);
  if (!(s.eps > 0.0f)) args.range_error("eps", "must be > 0 (as a float32), got " + std::to_string(s.eps));
  s.momentum = args.number_or("momentum", 0.1f, 0.0, 1.0);
  return s;
}

// batchNormForward({ ...BatchNormShape, x, gamma, beta, runningMean, runningVar, training })
//   training: { y, savedMean, savedInvstd, runningMean, runningVar } (new running statistics;
//   the inputs are untouched);  evaluation: { y }.
Napi::Value batchnorm_forward(const Napi::CallbackInfo& info) {
  Args args(info, "batchNormForward",
            {"batch", "channels", "spatial", "eps", "momentum", "x", "gamma", "beta", "runningMean", "runningVar",
             "training", "device", "threads"});
  const BatchNormShape s = bn_shape(args);
  const size_t nx = args.product({s.batch, s.channels, s.spatial}, "x (batch*channels*spatial)");
  const size_t nc = static_cast<size_t>(s.channels);
  auto x = args.float32("x", nx);
  auto gamma = args.float32("gamma", nc);
  auto beta = args.float32("beta", nc);
  auto rmean = args.float32("runningMean", nc);
  auto rvar = args.float32("runningVar", nc);
  const bool training = args.boolean("training");
  if (training && s.batch * s.spatial < 2) {
    args.range_error("batch", "* spatial must be at least 2 in training (one value per channel has no variance), got " +
                                  str(s.batch) + " * " + str(s.spatial));
  }
  if (!training) {
    for (size_t c = 0; c < nc; ++c)
      if (!(rvar.data[c] >= 0.0f)) {
        args.range_error("runningVar[" + str(static_cast<int64_t>(c)) + "]", "= " + std::to_string(rvar.data[c]) +
                                           " must be >= 0");
      }
  }
  Target target = args.target();

  Napi::Env env = args.env();
  Napi::Object result = Napi::Object::New(env);
  Napi::Float32Array y = Napi::Float32Array::New(env, nx);
  result.Set("y", y);
  float* dy = y.Data();
  if (!training) {
    return PromiseWorker::queue(
        env, target, {x.value, gamma.value, beta.value, rmean.value, rvar.value},
        [=](Backend& be) {
          HostStaging st(be);
          be.batchnorm_forward_eval(s, st.in(x.data, nx), st.in(gamma.data, nc), st.in(beta.data, nc),
                                    st.in(rmean.data, nc), st.in(rvar.data, nc), st.out(dy, nx));
          st.finish();
        },
        result);
  }
  Napi::Float32Array saved_mean = Napi::Float32Array::New(env, nc), saved_invstd = Napi::Float32Array::New(env, nc);
  Napi::Float32Array new_mean = Napi::Float32Array::New(env, nc), new_var = Napi::Float32Array::New(env, nc);
  std::copy(rmean.data, rmean.data + nc, new_mean.Data());
  std::copy(rvar.data, rvar.data + nc, new_var.Data());
  result.Set("savedMean", saved_mean);
  result.Set("savedInvstd", saved_invstd);
  result.Set("runningMean", new_mean);
  result.Set("runningVar", new_var);
  float* sm = saved_mean.Data();
  float* si = saved_invstd.Data();
  float* rm = new_mean.Data();
  float* rv = new_var.Data();
  return PromiseWorker::queue(
      env, target, {x.value, gamma.value, beta.value},
      [=](Backend& be) {
        HostStaging st(be);
        be.batchnorm_forward_train(s, st.in(x.data, nx), st.in(gamma.data, nc), st.in(beta.data, nc), st.out(dy, nx),
                                   st.out(sm, nc), st.out(si, nc), st.inout(rm, nc), st.inout(rv, nc));
        st.finish();
      },
      result);
}

// batchNormBackward({ ...BatchNormShape, x, dy, gamma, savedMean, savedInvstd }) -> { dx, dgamma, dbeta }
Napi::Value batchnorm_backward(const Napi::CallbackInfo& info) {
  Args args(info, "batchNormBackward",
            {"batch", "channels", "spatial", "eps", "momentum", "x", "dy", "gamma", "savedMean", "savedInvstd",
             "device", "threads"});
  const BatchNormShape s = bn_shape(args);  // eps and momentum are checked but not needed here
  const size_t nx = args.product({s.batch, s.channels, s.spatial}, "x (batch*channels*spatial)");
  const size_t nc = static_cast<size_t>(s.channels);
  auto x = args.float32("x", nx);
  auto dy = args.float32("dy", nx);
  auto gamma = args.float32("gamma", nc);
  auto mean = args.float32("savedMean", nc);
  auto invstd = args.float32("savedInvstd", nc);
  Target target = args.target();

  Napi::Env env = args.env();
  Napi::Float32Array dx = Napi::Float32Array::New(env, nx);
  Napi::Float32Array dgamma = Napi::Float32Array::New(env, nc), dbeta = Napi::Float32Array::New(env, nc);
  Napi::Object result = Napi::Object::New(env);
  result.Set("dx", dx);
  result.Set("dgamma", dgamma);
  result.Set("dbeta", dbeta);
  float* ddx = dx.Data();
  float* dg = dgamma.Data();
  float* dbt = dbeta.Data();
  return PromiseWorker::queue(
      env, target, {x.value, dy.value, gamma.value, mean.value, invstd.value},
      [=](Backend& be) {
        HostStaging st(be);
        be.batchnorm_backward(s, st.in(x.data, nx), st.in(dy.data, nx), st.in(gamma.data, nc), st.in(mean.data, nc),
                              st.in(invstd.data, nc), st.out(ddx, nx), st.out(dg, nc), st.out(dbt, nc));
        st.finish();
      },
      result);
}

// ---------------------------------------------------------------------------------------------
// sgdUpdate({ param, grad, velocity?, lr, momentum?, weightDecay? }) -> Promise<undefined>;
// param and velocity are updated in place. velocity (zeros before the first step) is required
// when momentum != 0, and left untouched when momentum == 0.
Napi::Value sgd_update(const Napi::CallbackInfo& info) {
  Args args(info, "sgdUpdate", {"param", "grad", "velocity", "lr", "momentum", "weightDecay", "device", "threads"});
  SgdParams p;
  p.lr = args.number("lr", 0.0, kFloatMax);
  p.momentum = args.number_or("momentum", 0.0f, 0.0, 1.0);
  p.weight_decay = args.number_or("weightDecay", 0.0f, 0.0, kFloatMax);
  auto param = args.float32_any("param", kMaxLength);
  const size_t n = param.length;
  auto grad = args.float32("grad", n);
  auto velocity = args.float32_optional("velocity", n);
  if (p.momentum != 0.0f && !velocity) {
    args.type_error("velocity", "is required when momentum != 0 (a Float32Array of zeros before the first step)");
  }
  float* vel = p.momentum != 0.0f ? velocity.data : nullptr;
  check_disjoint(args, {{"param", param.data, n * 4, true},
                        {"grad", grad.data, n * 4, false},
                        {"velocity", vel, vel ? n * 4 : 0, true}});
  Target target = args.target();

  float* prm = param.data;
  const float* g = grad.data;
  return undefined_when_done(args.env(), target, {param.value, grad.value, velocity.value}, [=](Backend& be) {
    HostStaging st(be);
    be.sgd_update(static_cast<int64_t>(n), p, st.inout(prm, n), st.in(g, n), st.inout(vel, n));
    st.finish();
  });
}

// adamUpdate({ param, grad, m, v, step, lr?, beta1?, beta2?, eps?, weightDecay? }) -> Promise<undefined>;
// param, m and v (zeros before step 1) are updated in place.
Napi::Value adam_update(const Napi::CallbackInfo& info) {
  Args args(info, "adamUpdate",
            {"param", "grad", "m", "v", "step", "lr", "beta1", "beta2", "eps", "weightDecay", "device", "threads"});
  AdamParams p;
  p.step = args.integer("step", 1, int64_t{1} << 53);
  p.lr = args.number_or("lr", 1e-3f, 0.0, kFloatMax);
  p.beta1 = args.number_or("beta1", 0.9f, 0.0, 1.0);
  p.beta2 = args.number_or("beta2", 0.999f, 0.0, 1.0);
  // Checked as float32: 0.99999999 rounds to 1, which would divide by a zero bias correction.
  if (!(p.beta1 < 1.0f)) args.range_error("beta1", "must be in [0, 1) (as a float32), got " + std::to_string(p.beta1));
  if (!(p.beta2 < 1.0f)) args.range_error("beta2", "must be in [0, 1) (as a float32), got " + std::to_string(p.beta2));
  p.eps = args.number_or("eps", 1e-8f, 0.0, kFloatMax);
  p.weight_decay = args.number_or("weightDecay", 0.0f, 0.0, kFloatMax);
  auto param = args.float32_any("param", kMaxLength);
  const size_t n = param.length;
  auto grad = args.float32("grad", n);
  auto m = args.float32("m", n);
  auto v = args.float32("v", n);
  check_disjoint(args, {{"param", param.data, n * 4, true},
                        {"grad", grad.data, n * 4, false},
                        {"m", m.data, n * 4, true},
                        {"v", v.data, n * 4, true}});
  Target target = args.target();

  float* prm = param.data;
  const float* g = grad.data;
  float* dm = m.data;
  float* dv = v.data;
  return undefined_when_done(args.env(), target, {param.value, grad.value, m.value, v.value}, [=](Backend& be) {
    HostStaging st(be);
    be.adam_update(static_cast<int64_t>(n), p, st.inout(prm, n), st.in(g, n), st.inout(dm, n), st.inout(dv, n));
    st.finish();
  });
}

}  // namespace

void register_nn(Napi::Env env, Napi::Object exports) {
  exports.Set("unary", Napi::Function::New<guarded<unary>>(env, "unary"));
  exports.Set("rowSums", Napi::Function::New<guarded<sums<true>>>(env, "rowSums"));
  exports.Set("colSums", Napi::Function::New<guarded<sums<false>>>(env, "colSums"));
  exports.Set("softmaxCrossEntropy", Napi::Function::New<guarded<softmax_cross_entropy>>(env, "softmaxCrossEntropy"));
  exports.Set("conv2dForward", Napi::Function::New<guarded<conv2d_forward>>(env, "conv2dForward"));
  exports.Set("conv2dBackward", Napi::Function::New<guarded<conv2d_backward>>(env, "conv2dBackward"));
  exports.Set("maxPool2x2Forward", Napi::Function::New<guarded<maxpool_forward>>(env, "maxPool2x2Forward"));
  exports.Set("maxPool2x2Backward", Napi::Function::New<guarded<maxpool_backward>>(env, "maxPool2x2Backward"));
  exports.Set("batchNormForward", Napi::Function::New<guarded<batchnorm_forward>>(env, "batchNormForward"));
  exports.Set("batchNormBackward", Napi::Function::New<guarded<batchnorm_backward>>(env, "batchNormBackward"));
  exports.Set("sgdUpdate", Napi::Function::New<guarded<sgd_update>>(env, "sgdUpdate"));
  exports.Set("adamUpdate", Napi::Function::New<guarded<adam_update>>(env, "adamUpdate"));
}

}  // namespace dendrite::bindings

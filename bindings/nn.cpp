// Neural-network kernels: unary, rowSums, colSums, softmaxCrossEntropy, conv2dForward,
// conv2dBackward, maxPool2x2Forward, maxPool2x2Backward, batchNormForward, batchNormBackward,
// sgdUpdate, adamUpdate. Signatures: src/native.ts.
//
// Every argument is checked here on the main thread (bad ones throw synchronously); the job
// then runs on a worker through HostStaging, so the same code serves every backend. The job owns
// its memory (worker.h): input arrays are copied as they are read (integer data that kernels
// index with, labels and argmax, is checked on the copy), outputs are native buffers handed over
// at completion, and arrays updated in place (sgdUpdate, adamUpdate) are written back then.
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

// Arrays updated in place must not share memory with any other array of the call: the result
// would depend on the order the arrays are written. Compares the JS arrays' memory (the jobs
// work on copies); an absent (undefined) array is skipped.
struct Span {
  const char* name;
  Napi::Value array;
  bool written;
};
void check_disjoint(const Args& args, std::initializer_list<Span> spans) {
  auto memory = [&](const Span& s, uintptr_t* start, size_t* bytes) {
    *start = 0;
    *bytes = 0;
    if (s.array.IsEmpty() || !s.array.IsTypedArray()) return;
    void* data = nullptr;
    size_t length = 0;
    napi_typedarray_type type;
    if (napi_get_typedarray_info(args.env(), s.array, &type, &length, &data, nullptr, nullptr) != napi_ok) return;
    *start = reinterpret_cast<uintptr_t>(data);
    *bytes = length * sizeof(float);
  };
  for (auto a = spans.begin(); a != spans.end(); ++a)
    for (auto b = a + 1; b != spans.end(); ++b) {
      uintptr_t a0, b0;
      size_t a_bytes, b_bytes;
      memory(*a, &a0, &a_bytes);
      memory(*b, &b0, &b_bytes);
      if (!(a->written || b->written) || a0 == 0 || b0 == 0 || a_bytes == 0 || b_bytes == 0) continue;
      if (a0 < b0 + b_bytes && b0 < a0 + a_bytes) {
        args.range_error(a->name, std::string("shares memory with ") + b->name + " (arrays updated in place must not overlap)");
      }
    }
}

// Queues an in-place update: the job updates the copies in `wb`, which are written into the JS
// arrays `held` (in the order of wb.names) at completion; the promise resolves with undefined.
Napi::Promise update_in_place(Napi::Env env, const Target& target, std::function<void(Backend&)> job, WriteBack wb,
                              std::vector<Napi::Value> held) {
  return queue_kernel(
      env, target, std::move(job),
      [wb = std::move(wb)](Napi::Env e, const std::vector<Napi::Value>& arrays) -> Napi::Value {
        wb.write(e, arrays);
        return e.Undefined();
      },
      std::move(held));
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
  const Target target = args.target(kWorkPerElement * 2.0 * static_cast<double>(x.length));

  const size_t n = x.length;
  const Buffer<float> out = Buffer<float>::zeros(n);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.unary(op, static_cast<int64_t>(n), st.in(x.data, n), st.out(out.data(), n), scale, shift);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

// rowSums({ a, rows, cols }) -> Float32Array(rows);  colSums(...) -> Float32Array(cols)
template <bool kRows>
Napi::Value sums(const Napi::CallbackInfo& info) {
  const char* fn = kRows ? "rowSums" : "colSums";
  Args args(info, fn, {"a", "rows", "cols", "device", "threads"});
  const int64_t rows = args.integer("rows", 1, kMaxDim), cols = args.integer("cols", 1, kMaxDim);
  auto a = args.float32("a", args.product({rows, cols}, "a (rows*cols)"));
  const Target target = args.target(kWorkPerElement * static_cast<double>(a.length));

  const size_t n = static_cast<size_t>(kRows ? rows : cols);
  const Buffer<float> out = Buffer<float>::zeros(n);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        const float* da = st.in(a.data, a.length);
        float* dout = st.out(out.data(), n);
        if constexpr (kRows) be.row_sums(rows, cols, da, dout);
        else be.col_sums(rows, cols, da, dout);
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
}

// softmaxCrossEntropy({ logits, labels, batch, classes }) -> { loss, losses, grad }
Napi::Value softmax_cross_entropy(const Napi::CallbackInfo& info) {
  Args args(info, "softmaxCrossEntropy", {"logits", "labels", "batch", "classes", "device", "threads"});
  const int64_t batch = args.integer("batch", 1, kMaxDim), classes = args.integer("classes", 1, kMaxDim);
  const size_t size = args.product({batch, classes}, "logits (batch*classes)");
  auto logits = args.float32("logits", size);
  const auto labels = args.int32("labels", static_cast<size_t>(batch));  // a copy: checked here, read by the job
  for (int64_t b = 0; b < batch; ++b) {
    const int32_t l = labels.data[b];
    if (l < 0 || l >= classes) {
      args.range_error("labels[" + str(b) + "]", "= " + str(l) + " is outside [0, classes) = [0, " + str(classes) + ")");
    }
  }
  const Target target = args.target(kWorkPerElement * 2.0 * static_cast<double>(size));

  const Buffer<float> losses = Buffer<float>::zeros(static_cast<size_t>(batch));
  const Buffer<float> grad = Buffer<float>::zeros(size);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.softmax_cross_entropy(batch, classes, st.in(logits.data, size), st.in(labels.data, labels.length),
                                 st.out(losses.data(), static_cast<size_t>(batch)), st.out(grad.data(), size));
        st.finish();
      },
      [=](Napi::Env e, const auto&) -> Napi::Value {
        // loss = mean of the per-example losses, summed in double in index order.
        double s = 0;
        for (int64_t b = 0; b < batch; ++b) s += losses[static_cast<size_t>(b)];
        Napi::Object r = Napi::Object::New(e);
        r.Set("loss", Napi::Number::New(e, s / static_cast<double>(batch)));
        r.Set("losses", hand_over(e, losses));
        r.Set("grad", hand_over(e, grad));
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
  const Target target = args.target(2.0 * static_cast<double>(ny) * static_cast<double>(s.in_channels * s.kernel_h * s.kernel_w));

  const Buffer<float> out = Buffer<float>::zeros(ny);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.conv2d_forward(s, st.in(x.data, x.length), st.in(w.data, w.length), st.in(bias.data, bias.length),
                          st.out(out.data(), ny));
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
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
  // dx and dw: two products of the forward size.
  const Target target = args.target(2.0 * 2.0 * static_cast<double>(dy.length) * static_cast<double>(s.in_channels * s.kernel_h * s.kernel_w));

  const size_t nb = static_cast<size_t>(s.out_channels);
  const Buffer<float> dx = want_dx ? Buffer<float>::zeros(x.length) : Buffer<float>();
  const Buffer<float> dw = Buffer<float>::zeros(w.length);
  const Buffer<float> db = want_db ? Buffer<float>::zeros(nb) : Buffer<float>();
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.conv2d_backward(s, st.in(x.data, x.length), st.in(w.data, w.length), st.in(dy.data, dy.length),
                           st.out(dx.data(), x.length), st.out(dw.data(), w.length), st.out(db.data(), nb));
        st.finish();
      },
      [=](Napi::Env e, const auto&) -> Napi::Value {
        Napi::Object result = Napi::Object::New(e);
        if (dx) result.Set("dx", hand_over(e, dx));
        result.Set("dw", hand_over(e, dw));
        if (db) result.Set("db", hand_over(e, db));
        return result;
      });
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
  const Target target = args.target(kWorkPerElement * static_cast<double>(x.length + 2 * ny));

  const Buffer<float> y = Buffer<float>::zeros(ny);
  const Buffer<int32_t> argmax = Buffer<int32_t>::zeros(ny);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.maxpool2x2_forward(s, st.in(x.data, x.length), st.out(y.data(), ny), st.out(argmax.data(), ny));
        st.finish();
      },
      [=](Napi::Env e, const auto&) -> Napi::Value {
        Napi::Object result = Napi::Object::New(e);
        result.Set("y", hand_over(e, y));
        result.Set("argmax", hand_over(e, argmax));
        return result;
      });
}

// maxPool2x2Backward({ ...PoolShape, dy, argmax }) -> Float32Array dx
Napi::Value maxpool_backward(const Napi::CallbackInfo& info) {
  Args args(info, "maxPool2x2Backward", {"batch", "channels", "inH", "inW", "dy", "argmax", "device", "threads"});
  const Pool2dShape s = pool_shape(args);
  const size_t ny = args.product({s.batch, s.channels, s.out_h(), s.out_w()}, "dy (batch*channels*outH*outW)");
  auto dy = args.float32("dy", ny);
  // A copy, checked here and read by the job. Each index must lie in its own 2x2 window: then
  // every input receives at most one gradient.
  const auto argmax = args.int32("argmax", ny);
  const int64_t oh = s.out_h(), ow = s.out_w(), plane_out = oh * ow;
  for (size_t i = 0; i < ny; ++i) {
    const int64_t a = argmax.data[i], q = static_cast<int64_t>(i) % plane_out, oy = q / ow, ox = q % ow;
    if (a < 0 || a >= s.in_h * s.in_w || (a / s.in_w) / 2 != oy || (a % s.in_w) / 2 != ox) {
      args.range_error("argmax[" + str(static_cast<int64_t>(i)) + "]", "= " + str(a) +
                                     " is not an index of its 2x2 window (rows " + str(2 * oy) + "-" +
                                     str(2 * oy + 1) + ", columns " + str(2 * ox) + "-" + str(2 * ox + 1) +
                                     " of a " + str(s.in_h) + "x" + str(s.in_w) + " plane)");
    }
  }
  const size_t nx = args.product({s.batch, s.channels, s.in_h, s.in_w}, "dx (batch*channels*inH*inW)");
  const Target target = args.target(kWorkPerElement * static_cast<double>(nx + 2 * ny));

  const Buffer<float> out = Buffer<float>::zeros(nx);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.maxpool2x2_backward(s, st.in(dy.data, ny), st.in(argmax.data, ny), st.out(out.data(), nx));
        st.finish();
      },
      [out](Napi::Env env, const auto&) -> Napi::Value { return hand_over(env, out); });
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
  const Target target = args.target(kWorkPerElement * 3.0 * static_cast<double>(nx));

  const Buffer<float> y = Buffer<float>::zeros(nx);
  if (!training) {
    return queue_kernel(
        args.env(), target,
        [=](Backend& be) {
          HostStaging st(be);
          be.batchnorm_forward_eval(s, st.in(x.data, nx), st.in(gamma.data, nc), st.in(beta.data, nc),
                                    st.in(rmean.data, nc), st.in(rvar.data, nc), st.out(y.data(), nx));
          st.finish();
        },
        [y](Napi::Env e, const auto&) -> Napi::Value {
          Napi::Object result = Napi::Object::New(e);
          result.Set("y", hand_over(e, y));
          return result;
        });
  }
  // The new running statistics start as the copies of the old ones (the inputs are untouched).
  const Buffer<float> saved_mean = Buffer<float>::zeros(nc), saved_invstd = Buffer<float>::zeros(nc);
  const Buffer<float> new_mean = rmean.buffer, new_var = rvar.buffer;
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.batchnorm_forward_train(s, st.in(x.data, nx), st.in(gamma.data, nc), st.in(beta.data, nc),
                                   st.out(y.data(), nx), st.out(saved_mean.data(), nc), st.out(saved_invstd.data(), nc),
                                   st.inout(new_mean.data(), nc), st.inout(new_var.data(), nc));
        st.finish();
      },
      [=](Napi::Env e, const auto&) -> Napi::Value {
        Napi::Object result = Napi::Object::New(e);
        result.Set("y", hand_over(e, y));
        result.Set("savedMean", hand_over(e, saved_mean));
        result.Set("savedInvstd", hand_over(e, saved_invstd));
        result.Set("runningMean", hand_over(e, new_mean));
        result.Set("runningVar", hand_over(e, new_var));
        return result;
      });
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
  const Target target = args.target(kWorkPerElement * 4.0 * static_cast<double>(nx));

  const Buffer<float> dx = Buffer<float>::zeros(nx);
  const Buffer<float> dgamma = Buffer<float>::zeros(nc), dbeta = Buffer<float>::zeros(nc);
  return queue_kernel(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.batchnorm_backward(s, st.in(x.data, nx), st.in(dy.data, nx), st.in(gamma.data, nc), st.in(mean.data, nc),
                              st.in(invstd.data, nc), st.out(dx.data(), nx), st.out(dgamma.data(), nc),
                              st.out(dbeta.data(), nc));
        st.finish();
      },
      [=](Napi::Env e, const auto&) -> Napi::Value {
        Napi::Object result = Napi::Object::New(e);
        result.Set("dx", hand_over(e, dx));
        result.Set("dgamma", hand_over(e, dgamma));
        result.Set("dbeta", hand_over(e, dbeta));
        return result;
      });
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
  auto param = args.float32_inplace_any("param", kMaxLength);
  const size_t n = param.length;
  auto grad = args.float32("grad", n);
  const bool momentum = p.momentum != 0.0f;
  if (momentum && !args.has("velocity")) {
    args.type_error("velocity", "is required when momentum != 0 (a Float32Array of zeros before the first step)");
  }
  auto velocity = momentum ? args.float32_inplace("velocity", n) : args.float32_optional("velocity", n);
  check_disjoint(args, {{"param", param.value, true},
                        {"grad", grad.value, false},
                        {"velocity", momentum ? velocity.value : Napi::Value(), true}});
  const Target target = args.target(kWorkPerElement * 3.0 * static_cast<double>(n));

  WriteBack wb{"sgdUpdate", {"param"}, {param.buffer}};
  std::vector<Napi::Value> held = {param.value};
  if (momentum) {
    wb.names.push_back("velocity");
    wb.data.push_back(velocity.buffer);
    held.push_back(velocity.value);
  }
  // The job captures the ArrayArgs (their copies), not bare pointers into them.
  return update_in_place(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.sgd_update(static_cast<int64_t>(n), p, st.inout(param.data, n), st.in(grad.data, n),
                      st.inout(momentum ? velocity.data : nullptr, n));
        st.finish();
      },
      std::move(wb), std::move(held));
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
  auto param = args.float32_inplace_any("param", kMaxLength);
  const size_t n = param.length;
  auto grad = args.float32("grad", n);
  auto m = args.float32_inplace("m", n);
  auto v = args.float32_inplace("v", n);
  check_disjoint(args, {{"param", param.value, true}, {"grad", grad.value, false}, {"m", m.value, true}, {"v", v.value, true}});
  const Target target = args.target(kWorkPerElement * 4.0 * static_cast<double>(n));

  WriteBack wb{"adamUpdate", {"param", "m", "v"}, {param.buffer, m.buffer, v.buffer}};
  return update_in_place(
      args.env(), target,
      [=](Backend& be) {
        HostStaging st(be);
        be.adam_update(static_cast<int64_t>(n), p, st.inout(param.data, n), st.in(grad.data, n), st.inout(m.data, n),
                       st.inout(v.data, n));
        st.finish();
      },
      std::move(wb), {param.value, m.value, v.value});
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

// Sequential network: see sequential.h. Only Backend calls touch backend memory here.
#include "sequential.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "error.h"

namespace dendrite::nn {
namespace {

// Sizes are int64 everywhere; keep every product far from overflow.
constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr int64_t kMaxElements = int64_t{1} << 40;

std::string str(int64_t v) { return std::to_string(v); }

std::string shape_text(const Shape& s) {
  if (s.flat) return "a flat vector of " + str(s.c);
  return str(s.c) + "x" + str(s.h) + "x" + str(s.w);
}

// p / 255 for every byte value: exact float32 division, as PyTorch's x.float() / 255.
struct PixelTable {
  float v[256];
  PixelTable() {
    for (int i = 0; i < 256; ++i) v[i] = static_cast<float>(i) / 255.0f;
  }
};
const PixelTable kPixels;

}  // namespace

const char* layer_type_name(LayerType t) {
  switch (t) {
    case LayerType::Linear: return "linear";
    case LayerType::Conv2d: return "conv2d";
    case LayerType::BatchNorm: return "batchNorm";
    case LayerType::Relu: return "relu";
    case LayerType::MaxPool2x2: return "maxPool2x2";
    case LayerType::Flatten: return "flatten";
  }
  return "unknown";
}

std::vector<Shape> check_config(const Config& c) {
  auto bad = [](const std::string& msg) { fail(ErrorKind::OutOfRange, msg); };
  if (c.in_channels < 1 || c.in_h < 1 || c.in_w < 1 || c.in_channels >= kMaxDim || c.in_h >= kMaxDim ||
      c.in_w >= kMaxDim) {
    bad("input shape " + str(c.in_channels) + "x" + str(c.in_h) + "x" + str(c.in_w) +
        " must have every size in [1, 2^31)");
  }
  if (c.classes < 2 || c.classes >= kMaxDim) bad("classes must be in [2, 2^31), got " + str(c.classes));
  if (c.batch_size < 1 || c.batch_size >= kMaxDim) bad("batch size must be in [1, 2^31), got " + str(c.batch_size));
  if (c.layers.empty()) bad("the network has no layers");
  if (c.optimizer == OptimizerKind::Adam) {
    const AdamParams& a = c.adam;
    if (!(a.lr > 0) || !(a.beta1 >= 0 && a.beta1 < 1) || !(a.beta2 >= 0 && a.beta2 < 1) || !(a.eps > 0) ||
        !(a.weight_decay >= 0)) {
      bad("Adam needs lr > 0, beta1 and beta2 in [0, 1), eps > 0 and weightDecay >= 0");
    }
  } else if (!(c.sgd.lr > 0) || !(c.sgd.momentum >= 0) || !(c.sgd.weight_decay >= 0)) {
    bad("SGD needs lr > 0, momentum >= 0 and weightDecay >= 0");
  }

  std::vector<Shape> shapes;
  Shape s{c.in_channels, c.in_h, c.in_w, false};
  bool weighted = false;
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerSpec& l = c.layers[i];
    const std::string where = "layer " + std::to_string(i) + " (" + layer_type_name(l.type) + "): ";
    auto need_image = [&] {
      if (s.flat) bad(where + "needs an image input (channels x height x width), got " + shape_text(s));
    };
    Shape o = s;
    switch (l.type) {
      case LayerType::Linear:
        if (!s.flat && !(s.h == 1 && s.w == 1)) {
          bad(where + "input is " + shape_text(s) + ", not a vector: add a flatten layer before it");
        }
        if (l.out_features < 1 || l.out_features >= kMaxDim) {
          bad(where + "outFeatures must be in [1, 2^31), got " + str(l.out_features));
        }
        o = Shape{l.out_features, 1, 1, true};
        weighted = true;
        break;
      case LayerType::Conv2d: {
        need_image();
        if (l.out_channels < 1 || l.out_channels >= kMaxDim) {
          bad(where + "outChannels must be in [1, 2^31), got " + str(l.out_channels));
        }
        if (l.kernel_h < 1 || l.kernel_w < 1 || l.kernel_h >= kMaxDim || l.kernel_w >= kMaxDim) {
          bad(where + "kernel " + str(l.kernel_h) + "x" + str(l.kernel_w) + " must have sizes in [1, 2^31)");
        }
        if (l.stride < 1 || l.stride >= kMaxDim) bad(where + "stride must be in [1, 2^31), got " + str(l.stride));
        if (l.pad < 0 || l.pad >= kMaxDim) bad(where + "padding must be in [0, 2^31), got " + str(l.pad));
        const int64_t ph = s.h + 2 * l.pad, pw = s.w + 2 * l.pad;
        if (l.kernel_h > ph || l.kernel_w > pw) {
          bad(where + "kernel " + str(l.kernel_h) + "x" + str(l.kernel_w) + " is larger than its padded input " +
              str(ph) + "x" + str(pw) + " (input " + str(s.h) + "x" + str(s.w) + ", padding " + str(l.pad) + ")");
        }
        // Output size (in + 2 pad - kernel) / stride + 1 must be an integer (stricter than PyTorch,
        // which floors; see docs/papers.md, Lange §4.4).
        for (int d = 0; d < 2; ++d) {
          const int64_t in = d == 0 ? s.h : s.w, k = d == 0 ? l.kernel_h : l.kernel_w;
          const int64_t span = in + 2 * l.pad - k;
          if (span % l.stride != 0) {
            bad(where + "output " + (d == 0 ? "height" : "width") + " (" + str(in) + " + 2*" + str(l.pad) + " - " +
                str(k) + ") / " + str(l.stride) + " + 1 = " + str(span / l.stride + 1) + " + " + str(span % l.stride) +
                "/" + str(l.stride) + " is not an integer");
          }
        }
        o = Shape{l.out_channels, (ph - l.kernel_h) / l.stride + 1, (pw - l.kernel_w) / l.stride + 1, false};
        if (s.c * l.kernel_h * l.kernel_w >= kMaxDim) bad(where + "inChannels*kernelH*kernelW is too large");
        weighted = true;
        break;
      }
      case LayerType::BatchNorm:
        if (!(l.eps > 0) || !std::isfinite(l.eps)) bad(where + "eps must be > 0");
        if (!(l.momentum >= 0 && l.momentum <= 1)) bad(where + "momentum must be in [0, 1]");
        break;
      case LayerType::Relu:
        break;
      case LayerType::MaxPool2x2:
        need_image();
        if (s.h < 2 || s.w < 2 || s.h % 2 != 0 || s.w % 2 != 0) {
          bad(where + "input " + str(s.h) + "x" + str(s.w) + " cannot be pooled 2x2 without dropping a row or column (" +
              str(s.h) + "/2 x " + str(s.w) + "/2 = " + (s.h % 2 ? str(s.h / 2) + ".5" : str(s.h / 2)) + "x" +
              (s.w % 2 ? str(s.w / 2) + ".5" : str(s.w / 2)) + "): sizes must be even");
        }
        o = Shape{s.c, s.h / 2, s.w / 2, false};
        break;
      case LayerType::Flatten:
        o = Shape{s.size(), 1, 1, true};
        break;
    }
    if (o.c >= kMaxDim || o.h >= kMaxDim || o.w >= kMaxDim || o.size() >= kMaxElements / c.batch_size) {
      bad(where + "output " + shape_text(o) + " is too large for batch size " + str(c.batch_size));
    }
    if (c.feedback != Feedback::Backprop && (l.type == LayerType::Conv2d || l.type == LayerType::MaxPool2x2)) {
      bad(where + "feedback alignment is implemented for dense networks only (linear, batchNorm, relu, flatten)");
    }
    shapes.push_back(o);
    s = o;
  }
  if (!weighted) bad("the network has no linear or conv2d layer: nothing to train");
  if (!(s.flat || (s.h == 1 && s.w == 1)) || s.size() != c.classes) {
    bad("the last layer gives " + shape_text(s) + " values per example, expected classes = " + str(c.classes) +
        " (end with linear(" + str(c.classes) + "))");
  }
  return shapes;
}

// ---------------------------------------------------------------------------------------------

struct Sequential::Layer {
  LayerSpec spec;
  Shape in, out;
  int64_t weight = -1, bias = -1;   // param offsets (BatchNorm: gamma, beta)
  int64_t mean = -1, var = -1;      // buffer offsets (BatchNorm running statistics)
  int64_t fb = -1, fb_rows = 0;     // feedback offset and rows (FA: out_features, DFA: classes)
  float* act = nullptr;             // outputs, batch x out.size() (Flatten: its input)
  float* saved_mean = nullptr;
  float* saved_invstd = nullptr;
  int32_t* argmax = nullptr;
  // A batch-norm followed by a ReLU applies it in the same pass (relu_after); that ReLU's
  // outputs are then the batch-norm's (applied_by_bn, same memory).
  bool relu_after = false, applied_by_bn = false;

  int64_t fan_in() const {
    return spec.type == LayerType::Conv2d ? in.c * spec.kernel_h * spec.kernel_w : in.size();
  }
  Conv2dShape conv(int64_t batch) const {
    Conv2dShape s;
    s.batch = batch;
    s.in_channels = in.c;
    s.in_h = in.h;
    s.in_w = in.w;
    s.out_channels = spec.out_channels;
    s.kernel_h = spec.kernel_h;
    s.kernel_w = spec.kernel_w;
    s.stride = spec.stride;
    s.pad = spec.pad;
    return s;
  }
  BatchNormShape bn(int64_t batch) const {
    BatchNormShape s;
    s.batch = batch;
    s.channels = in.c;
    s.spatial = in.h * in.w;
    s.eps = spec.eps;
    s.momentum = spec.momentum;
    return s;
  }
  Pool2dShape pool(int64_t batch) const { return Pool2dShape{batch, in.c, in.h, in.w}; }
};

Sequential::Sequential(const Config& config, std::unique_ptr<Backend> backend)
    : config_(config), shapes_(check_config(config)), backend_(std::move(backend)) {
  input_shape_ = Shape{config_.in_channels, config_.in_h, config_.in_w, false};
  layers_.resize(config_.layers.size());
  // Input gradients are needed above the first layer with parameters only.
  first_weighted_ = -1;
  for (size_t i = 0; i < config_.layers.size() && first_weighted_ < 0; ++i) {
    const LayerType t = config_.layers[i].type;
    if (t == LayerType::Linear || t == LayerType::Conv2d || t == LayerType::BatchNorm) {
      first_weighted_ = static_cast<int64_t>(i);
    }
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    l.spec = config_.layers[i];
    l.in = i == 0 ? input_shape_ : shapes_[i - 1];
    l.out = shapes_[i];
    const int64_t li = static_cast<int64_t>(i);
    auto add = [&](Group g, const char* kind, std::vector<int64_t> shape) {
      TensorInfo t;
      t.layer = li;
      t.kind = kind;
      t.group = g;
      t.size = 1;
      for (int64_t d : shape) t.size *= d;
      t.shape = std::move(shape);
      int64_t& total = g == Group::Param ? n_params_ : g == Group::Buffer ? n_buffers_ : n_feedback_;
      t.offset = total;
      total += t.size;
      tensors_.push_back(t);
      return t.offset;
    };
    switch (l.spec.type) {
      case LayerType::Linear:
      case LayerType::Conv2d: {
        const bool linear = l.spec.type == LayerType::Linear;
        const int64_t outs = linear ? l.spec.out_features : l.spec.out_channels;
        l.weight = add(Group::Param, "weight",
                       linear ? std::vector<int64_t>{outs, l.in.size()}
                              : std::vector<int64_t>{outs, l.in.c, l.spec.kernel_h, l.spec.kernel_w});
        if (l.spec.bias) l.bias = add(Group::Param, "bias", {outs});
        if (linear && config_.feedback != Feedback::Backprop && li > first_weighted_) {
          l.fb_rows = config_.feedback == Feedback::Alignment ? outs : config_.classes;
          l.fb = add(Group::Feedback, "feedback", {l.fb_rows, l.in.size()});
        }
        break;
      }
      case LayerType::BatchNorm:
        l.weight = add(Group::Param, "gamma", {l.in.c});
        l.bias = add(Group::Param, "beta", {l.in.c});
        l.mean = add(Group::Buffer, "runningMean", {l.in.c});
        l.var = add(Group::Buffer, "runningVar", {l.in.c});
        break;
      default:
        break;
    }
  }
  for (size_t i = 0; i + 1 < layers_.size(); ++i) {
    if (layers_[i].spec.type == LayerType::BatchNorm && layers_[i + 1].spec.type == LayerType::Relu) {
      layers_[i].relu_after = true;
      layers_[i + 1].applied_by_bn = true;
    }
  }
  allocate();
  initialise();
}

Sequential::~Sequential() {
  for (void* p : owned_) backend_->release(p);
}

template <class T>
T* Sequential::alloc(size_t n) {
  void* p = backend_->allocate(std::max<size_t>(n, 1) * sizeof(T));
  owned_.push_back(p);
  return static_cast<T*>(p);
}

void Sequential::allocate() {
  const size_t batch = static_cast<size_t>(config_.batch_size);
  const size_t np = static_cast<size_t>(n_params_);
  params_ = alloc<float>(np);
  grads_ = alloc<float>(np);
  if (config_.optimizer == OptimizerKind::Adam) {
    moment1_ = alloc<float>(np);
    moment2_ = alloc<float>(np);
  } else if (config_.sgd.momentum != 0.0f) {
    moment1_ = alloc<float>(np);
  }
  buffers_ = alloc<float>(static_cast<size_t>(n_buffers_));
  feedback_ = alloc<float>(static_cast<size_t>(n_feedback_));

  const size_t in_size = static_cast<size_t>(input_shape_.size());
  input_ = alloc<float>(batch * in_size);
  ones_ = alloc<float>(batch);
  dlogits_ = alloc<float>(batch * static_cast<size_t>(config_.classes));
  losses_ = alloc<float>(batch);
  labels_ = alloc<int32_t>(batch);

  size_t widest = in_size;
  int64_t bn_channels = 0;
  float* prev = input_;
  for (Layer& l : layers_) {
    const size_t out = static_cast<size_t>(l.out.size());
    widest = std::max(widest, out);
    if (l.spec.type == LayerType::Flatten || l.applied_by_bn) {
      l.act = prev;  // same memory (another shape, or already relu'd)
    } else {
      l.act = alloc<float>(batch * out);
    }
    if (l.spec.type == LayerType::BatchNorm) {
      l.saved_mean = alloc<float>(static_cast<size_t>(l.in.c));
      l.saved_invstd = alloc<float>(static_cast<size_t>(l.in.c));
      bn_channels = std::max(bn_channels, l.in.c);
    }
    if (l.spec.type == LayerType::MaxPool2x2) l.argmax = alloc<int32_t>(batch * out);
    prev = l.act;
  }
  grad_a_ = alloc<float>(batch * widest);
  grad_b_ = alloc<float>(batch * widest);
  max_bn_channels_ = bn_channels;
  stats_scratch_ = alloc<float>(static_cast<size_t>(2 * bn_channels));

  host_input_.resize(backend_->is_host() ? 0 : batch * in_size);
  host_labels_.resize(backend_->is_host() ? 0 : batch);
  host_logits_.resize(batch * static_cast<size_t>(config_.classes));
  host_losses_.resize(batch);
}

void Sequential::initialise() {
  Backend& be = *backend_;
  // Host images of the constant tensors, uploaded once.
  std::vector<float> params(static_cast<size_t>(n_params_), 0.0f), buffers(static_cast<size_t>(n_buffers_), 0.0f);
  for (const Layer& l : layers_) {
    if (l.spec.type != LayerType::BatchNorm) continue;
    std::fill_n(params.begin() + l.weight, l.in.c, 1.0f);   // gamma = 1 (beta = 0)
    std::fill_n(buffers.begin() + l.var, l.in.c, 1.0f);     // running variance 1 (mean 0)
  }
  be.to_device(params_, params.data(), params.size() * sizeof(float));
  be.to_device(buffers_, buffers.data(), buffers.size() * sizeof(float));
  // Then the random tensors: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    if (l.spec.type != LayerType::Linear && l.spec.type != LayerType::Conv2d) continue;
    const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(l.fan_in())));
    const int64_t li = static_cast<int64_t>(i);
    const int64_t outs = l.out.c;
    be.random_uniform(init_stream(config_.seed, li, 0), outs * l.fan_in(), -bound, bound, params_ + l.weight);
    if (l.bias >= 0) be.random_uniform(init_stream(config_.seed, li, 1), outs, -bound, bound, params_ + l.bias);
    if (l.fb >= 0) {
      be.random_uniform(init_stream(config_.seed, li, 2), l.fb_rows * l.in.size(), -bound, bound, feedback_ + l.fb);
    }
  }
  std::vector<float> zeros(static_cast<size_t>(n_params_), 0.0f);
  if (moment1_ != nullptr) be.to_device(moment1_, zeros.data(), zeros.size() * sizeof(float));
  if (moment2_ != nullptr) be.to_device(moment2_, zeros.data(), zeros.size() * sizeof(float));
  std::vector<float> ones(static_cast<size_t>(config_.batch_size), 1.0f);
  be.to_device(ones_, ones.data(), ones.size() * sizeof(float));
  // Scratch running statistics start defined (gradients() lets the kernel update them).
  const std::vector<float> stats(static_cast<size_t>(2 * max_bn_channels_), 0.0f);
  if (!stats.empty()) be.to_device(stats_scratch_, stats.data(), stats.size() * sizeof(float));
  step_ = 0;
}

void Sequential::load_batch(const DataView& data, const int32_t* order, int64_t first, int64_t batch) {
  const int64_t in_size = input_shape_.size();
  const bool host = backend_->is_host();
  float* x = host ? input_ : host_input_.data();
  int32_t* labels = host ? labels_ : host_labels_.data();
  for (int64_t k = 0; k < batch; ++k) {
    const int64_t pos = first + k;
    const int64_t idx = order != nullptr ? order[pos] : pos;
    if (idx < 0 || idx >= data.count) {
      fail(ErrorKind::OutOfRange, "example index " + str(idx) + " (order[" + str(pos) + "]) is outside [0, " +
                                      str(data.count) + ")");
    }
    const int32_t label = data.labels[idx];
    if (label >= config_.classes) {
      fail(ErrorKind::OutOfRange, "label of example " + str(idx) + " is " + str(label) + ", outside [0, " +
                                      str(config_.classes) + ")");
    }
    labels[k] = label;
    const uint8_t* src = data.images + idx * in_size;
    float* dst = x + k * in_size;
    for (int64_t j = 0; j < in_size; ++j) dst[j] = kPixels.v[src[j]];
  }
  if (!host) {
    backend_->to_device(input_, host_input_.data(), static_cast<size_t>(batch * in_size) * sizeof(float));
    backend_->to_device(labels_, host_labels_.data(), static_cast<size_t>(batch) * sizeof(int32_t));
  }
}

const float* Sequential::forward(int64_t batch, Mode mode) {
  Backend& be = *backend_;
  const float* x = input_;
  for (Layer& l : layers_) {
    float* y = l.act;
    switch (l.spec.type) {
      case LayerType::Linear: {
        const int64_t in = l.in.size(), out = l.out.c;
        // y = x W^T (+ 1 b^T, a rank-1 GEMM over the ones vector)
        be.gemm(contiguous_gemm(false, true, batch, out, in, 1.0f, 0.0f), x, params_ + l.weight, y);
        if (l.bias >= 0) be.gemm(contiguous_gemm(false, false, batch, out, 1, 1.0f, 1.0f), ones_, params_ + l.bias, y);
        break;
      }
      case LayerType::Conv2d:
        be.conv2d_forward(l.conv(batch), x, params_ + l.weight, l.bias >= 0 ? params_ + l.bias : nullptr, y);
        break;
      case LayerType::BatchNorm:
        if (mode == Mode::Eval) {
          be.batchnorm_forward_eval(l.bn(batch), x, params_ + l.weight, params_ + l.bias, buffers_ + l.mean,
                                    buffers_ + l.var, y);
          if (l.relu_after) be.unary(UnaryOp::Relu, batch * l.out.size(), y, y, 1.0f, 0.0f);
        } else {
          // TrainKeepStats lets the kernel update a scratch copy of the running statistics.
          float* rm = buffers_ + l.mean;
          float* rv = buffers_ + l.var;
          if (mode == Mode::TrainKeepStats) {
            rm = stats_scratch_;
            rv = stats_scratch_ + l.in.c;
          }
          if (l.relu_after) {
            be.batchnorm_relu_forward_train(l.bn(batch), x, params_ + l.weight, params_ + l.bias, y, l.saved_mean,
                                            l.saved_invstd, rm, rv);
          } else {
            be.batchnorm_forward_train(l.bn(batch), x, params_ + l.weight, params_ + l.bias, y, l.saved_mean,
                                       l.saved_invstd, rm, rv);
          }
        }
        break;
      case LayerType::Relu:
        if (!l.applied_by_bn) be.unary(UnaryOp::Relu, batch * l.out.size(), x, y, 1.0f, 0.0f);
        break;
      case LayerType::MaxPool2x2:
        be.maxpool2x2_forward(l.pool(batch), x, y, l.argmax);
        break;
      case LayerType::Flatten:
        break;  // y == x
    }
    x = y;
  }
  return x;
}

void Sequential::backward(int64_t batch) {
  Backend& be = *backend_;
  const float* dy = dlogits_;
  bool relu_done = false;  // the layer below is a ReLU whose backward a fused op already did
  for (int64_t i = static_cast<int64_t>(layers_.size()) - 1; i >= 0; --i) {
    Layer& l = layers_[static_cast<size_t>(i)];
    const float* x = i == 0 ? input_ : layers_[static_cast<size_t>(i - 1)].act;
    const bool need_dx = i > first_weighted_;
    float* dx = dy == grad_a_ ? grad_b_ : grad_a_;
    switch (l.spec.type) {
      case LayerType::Linear: {
        const int64_t in = l.in.size(), out = l.out.c;
        // dW = dY^T X, db = column sums of dY
        be.gemm(contiguous_gemm(true, false, out, in, batch, 1.0f, 0.0f), dy, x, grads_ + l.weight);
        if (l.bias >= 0) be.col_sums(batch, out, dy, grads_ + l.bias);
        if (!need_dx) break;
        if (config_.feedback == Feedback::Backprop) {
          be.gemm(contiguous_gemm(false, false, batch, in, out, 1.0f, 0.0f), dy, params_ + l.weight, dx);  // dY W
        } else if (config_.feedback == Feedback::Alignment) {
          be.gemm(contiguous_gemm(false, false, batch, in, out, 1.0f, 0.0f), dy, feedback_ + l.fb, dx);  // dY B
        } else {
          be.gemm(contiguous_gemm(false, false, batch, in, config_.classes, 1.0f, 0.0f), dlogits_, feedback_ + l.fb,
                  dx);  // e B
        }
        break;
      }
      case LayerType::Conv2d:
        be.conv2d_backward(l.conv(batch), x, params_ + l.weight, dy, need_dx ? dx : nullptr, grads_ + l.weight,
                           l.bias >= 0 ? grads_ + l.bias : nullptr);
        break;
      case LayerType::BatchNorm:
        // The kernel always writes dx; it is a scratch buffer when not needed.
        be.batchnorm_backward(l.bn(batch), x, dy, params_ + l.weight, l.saved_mean, l.saved_invstd, dx,
                              grads_ + l.weight, grads_ + l.bias);
        break;
      case LayerType::Relu:
        if (!need_dx) break;
        if (relu_done) {
          dx = const_cast<float*>(dy);  // the max-pool above already went through this ReLU
          relu_done = false;
        } else {
          be.relu_backward(batch * l.out.size(), l.act, dy, dx);
        }
        break;
      case LayerType::MaxPool2x2:
        if (!need_dx) break;
        if (i > 0 && layers_[static_cast<size_t>(i - 1)].spec.type == LayerType::Relu) {
          // Pooling a ReLU's output (conv -> bn -> relu -> pool): the ReLU passed a window's
          // chosen element exactly where the pooled value is > 0, so its backward runs on the
          // pooled gradients (a quarter of the values, without reading the ReLU's outputs)
          // before the scatter. dy is spent after the first step: its buffer (or, when dy is
          // dlogits_, the other gradient buffer) takes the scattered gradient.
          be.relu_backward(batch * l.out.size(), l.act, dy, dx);
          float* scattered = dy == grad_a_ || dy == grad_b_ ? const_cast<float*>(dy) : grad_b_;
          be.maxpool2x2_backward(l.pool(batch), dx, l.argmax, scattered);
          dx = scattered;
          relu_done = true;
        } else {
          be.maxpool2x2_backward(l.pool(batch), dy, l.argmax, dx);
        }
        break;
      case LayerType::Flatten:
        dx = const_cast<float*>(dy);  // same memory, another shape
        break;
    }
    if (!need_dx) break;
    dy = dx;
  }
}

void Sequential::optimizer_step() {
  ++step_;
  if (config_.optimizer == OptimizerKind::Adam) {
    AdamParams p = config_.adam;
    p.step = step_;
    backend_->adam_update(n_params_, p, params_, grads_, moment1_, moment2_);
  } else {
    backend_->sgd_update(n_params_, config_.sgd, params_, grads_, moment1_);
  }
}

void Sequential::score_batch(const DataView& data, const int32_t* order, int64_t first, int64_t batch, Mode mode,
                             double& loss_sum, int32_t& correct, int32_t* predictions) {
  load_batch(data, order, first, batch);
  logits_ = forward(batch, mode);
  const int64_t classes = config_.classes;
  backend_->softmax_cross_entropy(batch, classes, logits_, labels_, losses_, dlogits_);
  backend_->to_host(host_logits_.data(), logits_, static_cast<size_t>(batch * classes) * sizeof(float));
  backend_->to_host(host_losses_.data(), losses_, static_cast<size_t>(batch) * sizeof(float));
  const int32_t* labels = backend_->is_host() ? labels_ : host_labels_.data();
  loss_sum = 0;
  correct = 0;
  for (int64_t b = 0; b < batch; ++b) {
    loss_sum += static_cast<double>(host_losses_[static_cast<size_t>(b)]);
    // argmax, the first of equal maxima (NaN never wins)
    const float* z = host_logits_.data() + b * classes;
    int32_t best = 0;
    for (int64_t j = 1; j < classes; ++j)
      if (z[j] > z[best]) best = static_cast<int32_t>(j);
    if (best == labels[b]) ++correct;
    if (predictions != nullptr) predictions[b] = best;
  }
}

void Sequential::train(const DataView& data, const int32_t* order, int64_t count, ChunkStats& out) {
  const int64_t bs = config_.batch_size;
  // A dense BatchNorm cannot normalise a single example: refuse before changing anything.
  if (bs == 1 || count % bs == 1) {
    for (size_t i = 0; i < layers_.size(); ++i) {
      const Layer& l = layers_[i];
      if (l.spec.type == LayerType::BatchNorm && l.in.h * l.in.w < 2) {
        fail(ErrorKind::OutOfRange, "layer " + std::to_string(i) +
                                        " (batchNorm): a mini-batch of 1 example has one value per channel; "
                                        "use another batch size or example count (" + str(count) + " examples in batches of " +
                                        str(bs) + ")");
      }
    }
  }
  for (int64_t first = 0; first < count; first += bs) {
    const int64_t batch = std::min(bs, count - first);
    double loss = 0;
    int32_t correct = 0;
    score_batch(data, order, first, batch, Mode::Train, loss, correct, nullptr);
    backward(batch);
    optimizer_step();
    out.batch_size.push_back(static_cast<int32_t>(batch));
    out.batch_loss.push_back(loss / static_cast<double>(batch));
    out.batch_correct.push_back(correct);
  }
}

void Sequential::evaluate(const DataView& data, const int32_t* order, int64_t count, EvalStats& out,
                          int32_t* predictions) {
  const int64_t bs = config_.batch_size;
  for (int64_t first = 0; first < count; first += bs) {
    const int64_t batch = std::min(bs, count - first);
    double loss = 0;
    int32_t correct = 0;
    score_batch(data, order, first, batch, Mode::Eval, loss, correct, predictions != nullptr ? predictions + first : nullptr);
    out.loss_sum += loss;
    out.correct += correct;
    out.count += batch;
  }
}

double Sequential::gradients(const DataView& data, const int32_t* order, int64_t count, float* grads) {
  if (count < 1 || count > config_.batch_size) {
    fail(ErrorKind::OutOfRange, "gradients: count must be in [1, batch size = " + str(config_.batch_size) + "], got " +
                                    str(count));
  }
  double loss = 0;
  int32_t correct = 0;
  score_batch(data, order, 0, count, Mode::TrainKeepStats, loss, correct, nullptr);
  backward(count);
  backend_->to_host(grads, grads_, static_cast<size_t>(n_params_) * sizeof(float));
  return loss / static_cast<double>(count);
}

std::vector<float> Sequential::download(const float* p, int64_t n) const {
  std::vector<float> v(static_cast<size_t>(n));
  if (n > 0) backend_->to_host(v.data(), p, v.size() * sizeof(float));
  return v;
}

State Sequential::state() const {
  State s;
  s.params = download(params_, n_params_);
  s.buffers = download(buffers_, n_buffers_);
  s.feedback = download(feedback_, n_feedback_);
  if (moment1_ != nullptr) s.moment1 = download(moment1_, n_params_);
  if (moment2_ != nullptr) s.moment2 = download(moment2_, n_params_);
  s.step = step_;
  return s;
}

void Sequential::set_state(const State& s) {
  auto check = [](const char* what, size_t got, size_t want) {
    if (got != want) {
      fail(ErrorKind::OutOfRange, std::string("state: ") + what + " has " + std::to_string(got) +
                                      " values, this network needs " + std::to_string(want));
    }
  };
  check("params", s.params.size(), static_cast<size_t>(n_params_));
  check("buffers", s.buffers.size(), static_cast<size_t>(n_buffers_));
  check("feedback", s.feedback.size(), static_cast<size_t>(n_feedback_));
  check("moment1", s.moment1.size(), moment1_ != nullptr ? static_cast<size_t>(n_params_) : 0);
  check("moment2", s.moment2.size(), moment2_ != nullptr ? static_cast<size_t>(n_params_) : 0);
  if (s.step < 0) fail(ErrorKind::OutOfRange, "state: step must be >= 0");
  Backend& be = *backend_;
  auto up = [&](float* dst, const std::vector<float>& v) {
    if (!v.empty()) be.to_device(dst, v.data(), v.size() * sizeof(float));
  };
  up(params_, s.params);
  up(buffers_, s.buffers);
  up(feedback_, s.feedback);
  up(moment1_, s.moment1);
  up(moment2_, s.moment2);
  step_ = s.step;
}

std::vector<Alignment> Sequential::alignment() const {
  std::vector<Alignment> result;
  if (config_.feedback == Feedback::Backprop) return result;
  const std::vector<float> params = download(params_, n_params_);
  const std::vector<float> feedback = download(feedback_, n_feedback_);
  // DFA: M = W_L ... W_j, built from the output layer downwards (rows = classes).
  std::vector<double> m;
  int64_t m_cols = 0;
  for (int64_t i = static_cast<int64_t>(layers_.size()) - 1; i >= 0; --i) {
    const Layer& l = layers_[static_cast<size_t>(i)];
    if (l.spec.type != LayerType::Linear) continue;
    const int64_t out = l.out.c, in = l.in.size();
    const float* w = params.data() + l.weight;
    if (config_.feedback == Feedback::Direct) {
      if (m.empty()) {
        m.assign(w, w + out * in);
      } else {
        // m [classes x out] * W [out x in]
        std::vector<double> next(static_cast<size_t>(config_.classes * in), 0.0);
        for (int64_t r = 0; r < config_.classes; ++r)
          for (int64_t k = 0; k < out; ++k) {
            const double a = m[static_cast<size_t>(r * m_cols + k)];
            const float* wk = w + k * in;
            double* row = next.data() + r * in;
            for (int64_t c = 0; c < in; ++c) row[c] += a * wk[c];
          }
        m.swap(next);
      }
      m_cols = in;
    }
    if (l.fb < 0) continue;
    const float* b = feedback.data() + l.fb;
    const int64_t n = l.fb_rows * in;
    double dot = 0, nf = 0, nb = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double f = config_.feedback == Feedback::Direct ? m[static_cast<size_t>(k)] : static_cast<double>(w[k]);
      const double g = b[k];
      dot += f * g;
      nf += f * f;
      nb += g * g;
    }
    Alignment a;
    a.layer = i;
    a.norm_forward = std::sqrt(nf);
    a.norm_feedback = std::sqrt(nb);
    const double denom = a.norm_forward * a.norm_feedback;
    a.angle_deg = denom > 0 ? std::acos(std::max(-1.0, std::min(1.0, dot / denom))) * 180.0 / 3.14159265358979323846
                            : NAN;
    result.push_back(a);
  }
  std::reverse(result.begin(), result.end());
  return result;
}

}  // namespace dendrite::nn

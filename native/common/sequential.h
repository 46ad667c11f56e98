// A sequential network trained by backprop (or feedback alignment), written once against the
// Backend interface: parameters, activations and gradients live in backend memory and every
// computation is a Backend kernel call, so the same code runs on the CPU and on CUDA.
//
// Layers: Linear, Conv2d, BatchNorm, ReLU, MaxPool2x2, Flatten (PyTorch semantics, NCHW).
// Loss: softmax cross-entropy, mean over the mini-batch. Optimisers: Adam or SGD (PyTorch's
// formulas, backend.h), one update per mini-batch over all parameters.
//
// Initialisation (PyTorch's defaults): Linear and Conv2d weight and bias ~ U(-1/sqrt(fan_in),
// 1/sqrt(fan_in)) with fan_in = in_features or in_channels * kernel_h * kernel_w; BatchNorm
// gamma = 1, beta = 0, running mean 0, running variance 1. Feedback matrices (FA/DFA) are drawn
// from the same distribution as the forward weights of their layer. Every tensor has its own
// Philox stream (init_stream below), so the initial weights depend only on the seed and the
// architecture, on every backend and for any thread count.
//
// Feedback:
//   Backprop  dX = dY W                      (the gradient)
//   FA        dX = dY B,   B fixed, shape of W          (Lillicrap et al. 2016)
//   DFA       dX = e  B,   B fixed, classes x in_features, e = dLoss/dlogits (Nokland 2016)
// for every Linear layer whose input gradient is needed (all but the first weighted layer).
// With one hidden layer FA and DFA coincide.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"

namespace dendrite::nn {

enum class LayerType { Linear, Conv2d, BatchNorm, Relu, MaxPool2x2, Flatten };
const char* layer_type_name(LayerType t);  // "linear", "conv2d", "batchNorm", "relu", "maxPool2x2", "flatten"

enum class Feedback { Backprop, Alignment, Direct };
enum class OptimizerKind { Adam, Sgd };

struct LayerSpec {
  LayerType type = LayerType::Relu;
  int64_t out_features = 0;                             // Linear
  int64_t out_channels = 0, kernel_h = 0, kernel_w = 0;  // Conv2d
  int64_t stride = 1, pad = 0;                          // Conv2d
  bool bias = true;                                     // Linear, Conv2d
  float eps = 1e-5f, momentum = 0.1f;                   // BatchNorm
};

struct Config {
  int64_t in_channels = 1, in_h = 1, in_w = 1;  // one example: in_channels x in_h x in_w values
  int64_t classes = 10;
  std::vector<LayerSpec> layers;
  Feedback feedback = Feedback::Backprop;
  OptimizerKind optimizer = OptimizerKind::Adam;
  AdamParams adam;  // adam.step is ignored: the network counts its own steps
  SgdParams sgd;
  int64_t batch_size = 100;  // mini-batch size (training and evaluation)
  uint64_t seed = 0;
};

// The activation shape of one example: c x h x w, or a flat vector of c values (h = w = 1).
struct Shape {
  int64_t c = 0, h = 0, w = 0;
  bool flat = false;
  int64_t size() const { return c * h * w; }
};

// Checks the configuration and returns the output shape of every layer. Throws
// Error(OutOfRange) for bad geometry or sizes, naming the layer and the sizes, e.g.
// "layer 3 (maxPool2x2): input 7x7 has an odd size; 2x2 pooling would give 3.5x3.5".
std::vector<Shape> check_config(const Config& c);

// The Philox stream of tensor `what` (0 weight, 1 bias, 2 feedback) of layer `layer`.
inline RngStream init_stream(uint64_t seed, int64_t layer, int what) {
  RngStream r;
  r.seed = seed;
  r.stream = (uint64_t{1} << 32) | (static_cast<uint64_t>(layer) << 2) | static_cast<uint64_t>(what);
  return r;
}

enum class Group { Param, Buffer, Feedback };

// A named tensor inside one of the flat state arrays.
struct TensorInfo {
  int64_t layer = 0;
  std::string kind;  // weight, bias, gamma, beta, runningMean, runningVar, feedback
  std::vector<int64_t> shape;
  Group group = Group::Param;
  int64_t offset = 0, size = 0;
};

// Training data as the caller holds it: uint8 pixels (count x example size, row-major) and
// uint8 labels. Pixels become float32 p / 255 one mini-batch at a time.
struct DataView {
  const uint8_t* images = nullptr;
  const uint8_t* labels = nullptr;
  int64_t count = 0;
};

struct ChunkStats {
  std::vector<int32_t> batch_size;   // examples in each mini-batch
  std::vector<double> batch_loss;    // mean loss of each mini-batch (before its update)
  std::vector<int32_t> batch_correct;
};

struct EvalStats {
  double loss_sum = 0;  // summed per-example losses
  int64_t correct = 0, count = 0;
};

struct Alignment {
  int64_t layer = 0;
  double angle_deg = 0;      // angle between the forward map and the feedback matrix
  double norm_forward = 0;   // Frobenius norms
  double norm_feedback = 0;
};

// Everything that determines future training: a checkpoint.
struct State {
  std::vector<float> params, buffers, feedback;
  std::vector<float> moment1, moment2;  // Adam m and v; SGD velocity in moment1 (empty without momentum)
  int64_t step = 0;                     // optimizer steps taken
};

class Sequential {
 public:
  // Allocates everything on `backend` and initialises the parameters from config.seed.
  Sequential(const Config& config, std::unique_ptr<Backend> backend);
  ~Sequential();
  Sequential(const Sequential&) = delete;
  Sequential& operator=(const Sequential&) = delete;

  const Config& config() const { return config_; }
  const std::vector<Shape>& shapes() const { return shapes_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  int64_t param_count() const { return n_params_; }
  int64_t buffer_count() const { return n_buffers_; }
  int64_t feedback_count() const { return n_feedback_; }
  int64_t step() const { return step_; }
  Backend& backend() { return *backend_; }

  // Trains on examples order[0..count) in mini-batches of config.batch_size (the last one may be
  // smaller), one optimiser step per mini-batch. Indices and labels are checked as they are used.
  void train(const DataView& data, const int32_t* order, int64_t count, ChunkStats& out);
  // Scores examples order[0..count) (order may be null: examples 0..count) in evaluation mode
  // (BatchNorm with running statistics). predictions (count values) may be null.
  void evaluate(const DataView& data, const int32_t* order, int64_t count, EvalStats& out, int32_t* predictions);
  // Loss and parameter gradients of one mini-batch (count <= batch_size) without changing the
  // network: training-mode forward (batch statistics), running statistics left as they are.
  // grads has param_count() values; returns the mean loss.
  double gradients(const DataView& data, const int32_t* order, int64_t count, float* grads);

  State state() const;
  void set_state(const State& s);  // sizes checked (Error OutOfRange)
  // Forward/feedback alignment of every Linear layer with a feedback matrix (FA/DFA only).
  // FA compares B with W; DFA compares B with the product W_L ... W_j of the forward weights
  // from layer j to the output (the linear part of the true backward map).
  std::vector<Alignment> alignment() const;

 private:
  enum class Mode { Train, TrainKeepStats, Eval };
  struct Layer;

  void allocate();
  void initialise();
  void load_batch(const DataView& data, const int32_t* order, int64_t first, int64_t batch);
  const float* forward(int64_t batch, Mode mode);
  void backward(int64_t batch);
  void optimizer_step();
  // Loads examples order[first, first + batch), runs the forward pass in `mode` and the loss
  // (dlogits_ then holds its gradient): the batch's loss sum and correct count, and the
  // predictions when asked for.
  void score_batch(const DataView& data, const int32_t* order, int64_t first, int64_t batch, Mode mode,
                   double& loss_sum, int32_t& correct, int32_t* predictions);
  template <class T>
  T* alloc(size_t n);
  std::vector<float> download(const float* p, int64_t n) const;

  Config config_;
  std::vector<Shape> shapes_;
  Shape input_shape_;
  std::unique_ptr<Backend> backend_;
  std::vector<Layer> layers_;
  std::vector<TensorInfo> tensors_;
  std::vector<void*> owned_;
  int64_t n_params_ = 0, n_buffers_ = 0, n_feedback_ = 0;
  int64_t step_ = 0;
  int64_t first_weighted_ = 0;  // index of the first layer with parameters
  int64_t max_bn_channels_ = 0;

  // Backend memory.
  float* params_ = nullptr;
  float* grads_ = nullptr;
  float* moment1_ = nullptr;
  float* moment2_ = nullptr;
  float* buffers_ = nullptr;
  float* feedback_ = nullptr;
  float* input_ = nullptr;
  float* ones_ = nullptr;
  float* dlogits_ = nullptr;
  float* losses_ = nullptr;
  float* grad_a_ = nullptr;
  float* grad_b_ = nullptr;
  float* stats_scratch_ = nullptr;  // running statistics that gradients() updates and discards
  int32_t* labels_ = nullptr;
  const float* logits_ = nullptr;

  // Host staging.
  std::vector<float> host_input_;
  std::vector<int32_t> host_labels_;
  std::vector<float> host_logits_, host_losses_;
};

}  // namespace dendrite::nn

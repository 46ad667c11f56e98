// The segregated-dendrite network of Guerguiev, Lillicrap & Richards (2017), "Towards deep
// learning with segregated dendrites", eLife 6:e22901, as specified in
// docs/papers.md (equation labels H1-H6, O1-O5, P1-P5, U1-U9, I1-I3, K1-K3 refer to it).
//
// This header is backend-neutral: the configuration (its options generated from the one table in
// src/models/segregated-options.ts, with validation and every derived constant), the weight
// initialisation (host code, shared by every backend), and the network: one driver
// (segregated_driver.cpp) over a per-backend engine (segregated_engine.h; the CPU engine in
// native/cpu/segregated_cpu.cpp, the CUDA engine in native/cuda/segregated.cu), both computing with
// the equations of segregated_step.h (docs/segregated.md, "Implementation").
//
// State is float32 (the original uses float64: a documented deviation). Random numbers are
// counter-based (Philox4x32-10, native/common/philox.h), keyed by
//   stream = purpose << 60 | epoch << 32 | example,  element index = per-purpose layout
// (segregated_step.h),
// so every draw depends only on (seed, purpose, epoch, example, element): results do not depend
// on the thread count, on the batch layout, or on where a run was checkpointed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "segregated_step.h"
#include "shapes.h"

namespace dendrite::seg {

// The enums of the choice options: their enumerators follow the table's choices in order
// (checked against segregated_options.inc in segregated.cpp).
enum class ModeKind { Spiking, Nonspiking };
enum class FeedbackKind { Random, Symmetric, Learned };
// Moment-matched initialisation (I1-I3) with the realised spread (HEAD: U(-1, 1) times 3.465 W_sd)
// or the design spread (U(0, 1) - 0.5), or the plain uniform initialisation (docs/papers.md §10).
enum class InitKind { Realised, Design, Plain };

// Every option of docs/papers.md §15 that changes the simulation. The options, their ranges and their
// defaults are described once, in src/models/segregated-options.ts; segregated_options.inc is
// generated from it and gives preset() every default and validate() every range. Members start
// zeroed: take a Config from preset(), never default-constructed.
struct Config {
  ModeKind mode{};  // stored as given (mode only chooses defaults; nothing reads it back from numbers)
  int64_t n_in{};
  std::vector<int64_t> layers;  // hidden sizes..., output size (a multiple of 10)

  // Primary constants (docs/papers.md §3). Everything derived from them lives in Derived.
  double dt{};          // ms per step
  double lambda_max{};  // spikes per step (0.2 dt)
  double tau_s{}, tau_L{};
  double g_B{}, g_L{}, g_D{};
  double g_A{};  // apical -> soma conductance (0, 0.05 = use_apical_conductance, 0.6)
  double E_E{}, E_I{};

  bool use_conductances{};  // leaky somata (H5, O4); off: steady state (H5', O4', O4'')
  bool broadcast{};         // hidden layers fed by the output; off: by the layer above
  bool spiking_feedforward{};
  bool spiking_feedback{};

  int64_t mem{};                    // spike-history length = PSP kernel taps
  int64_t l_f_phase{};              // minimum forward phase length (steps)
  int64_t l_t_phase{};              // minimum target phase length
  int64_t l_test{};                 // test phase length (paper text: 500)
  int64_t integration_time{};       // training averaging window (last T steps of a phase)
  int64_t integration_time_test{};

  bool rand_phase_lengths{};  // L = l + floor(Wald(mean, scale)) per phase
  double wald_mean{}, wald_scale{};
  bool rand_plateau_times{};  // per-neuron plateau time jitter (docs/papers.md §8.4)
  double plateau_sd{};        // std of the normal jitter (the paper's "sigma^2 = 3" is the code's std 3)
  int64_t plateau_cap{};

  FeedbackKind feedback{};
  bool noisy_symmetric{};       // symmetric feedback plus N(0, sd^2) per entry
  double symmetric_noise_sd{};
  bool sparse_feedback{};       // zero floor(drop * size) entries of each Y once
  double sparse_drop{};
  double sparse_gain{};         // applied once to learned/random Y; to every symmetric copy
  bool feedback_bias{};         // apical bias c (A = Y PSP_A + c)

  InitKind init{};
  bool backprop{};          // hidden errors by backprop through W (control)
  bool backprop_inplace{};  // replay of the original: use the already-updated W above

  std::vector<double> f_etas;  // one per layer
  std::vector<double> b_etas;  // one per hidden layer, required with Learned feedback (else empty)

  // Not options of the table: given beside them.
  uint64_t seed = 0;
  int threads = 0;  // 0: default_threads()

  int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
  int64_t num_hidden() const { return num_layers() - 1; }
  int64_t n_out() const { return layers.back(); }
  int64_t fan_in(int64_t m) const { return m == 0 ? n_in : layers[m - 1]; }
  // Size of the feedback source of hidden layer m (the output, or layer m + 1).
  int64_t fb_size(int64_t m) const { return broadcast ? n_out() : layers[m + 1]; }
  int64_t fb_layer(int64_t m) const { return broadcast ? num_layers() - 1 : m + 1; }
};

// The table's defaults of the spiking (the paper) or non-spiking (the original's default, docs/papers.md §14)
// mode at dt = 1, layers {500, 10}, n_in 784 (dt-dependent defaults are the TS layer's business).
Config preset(bool spiking);

// How an option is given (the types of src/models/options.ts).
enum class OptionKind { Number, Integer, Boolean, Choice, NumberList, IntegerList };

// One option of the table (segregated_options.inc).
struct OptionSpec {
  const char* name;  // the JS name
  OptionKind kind;
  double min, max;   // valid range (of every entry of a list)
  bool exclusive_min, exclusive_max;
  int64_t min_items, max_items;  // lists: allowed lengths
  bool required;                 // false: may be absent (an empty list)
  std::vector<std::string> choices;  // Choice: the names; enumerator i of its enum is choices[i]
};

// Every option of the table, in its order.
const std::vector<OptionSpec>& options();

// The range of a spec as text: "(0, 1000]".
std::string range_text(const OptionSpec& s);

// Calls f(spec, member) for every option of the table, in its order; member is the Config field
// holding it (double, int64_t, bool, an enum, std::vector<double> or std::vector<int64_t>), const
// when c is. Readers and writers of whole option sets (validate, the JS binding) loop with this.
template <class C, class F>
void for_each_option(C& c, F&& f) {
  const std::vector<OptionSpec>& specs = options();
  size_t i = 0;
#define DENDRITE_SEG_OPTION(name, member, ...) f(specs[i++], c.member);
#include "segregated_options.inc"
}

// Throws Error(OutOfRange / InvalidArgument) naming the option when the configuration is invalid.
void validate(const Config& c);

// Constants derived from a Config (docs/papers.md §3), recomputed for every network (docs/papers.md §18 item 4).
struct Derived {
  std::vector<float> kappa;  // kappa[i - 1] = kappa(i dt), i = 1..mem (K1)
  KappaFilter filter{};      // (K3), with the coefficients of its starting sums:
  std::vector<float> seed_L, seed_S;  // seed_L[i] = aL^(i+1), i < mem (seed_S: aS)
  std::vector<float> kappa_window;    // mem x mem: [lo mem + hi] = sum of kappa_i, lo <= i <= hi (P2, psp_taps)
  double k_B = 0, k_D = 0;   // g_B/(g_L+g_B+g_A), g_D/(g_L+g_D)
  double P_hidden = 0, P_final = 0;  // 20/lambda_max, 20/lambda_max^2
  // Moment-matched initialisation statistics per layer (I1-I3), fan-in N = fan_in(m).
  std::vector<double> W_avg, W_sd;
  int64_t k_per_class = 1;  // output units per class
  int64_t units = 0;        // n_in + sum of layer sizes: the spike index stride per step
  std::vector<int64_t> unit_offset;  // offset of layer m's units (input at 0)
  std::vector<int64_t> hidden_offset;  // offset of hidden layer m among all hidden units
};

Derived derive(const Config& c);

// Moment-matched W_avg, W_sd for fan-in N (I1-I3).
void weight_stats(double lambda_max, double N, double* W_avg, double* W_sd);

// The random-stream purposes, kMaxEpoch and stream_of() are in segregated_step.h (the device
// draws test spikes too).

// The float constants of the step equations (segregated_step.h).
StepParams step_params(const Config& c, const Derived& d);

// Per-layer parameters as exposed to users: W is n_m x fan_in, Y is n_m x fb_size (hidden only),
// all row-major; c is empty unless feedback_bias.
struct LayerWeights {
  std::vector<float> W, b, Y, c;
};

// A rows x cols row-major matrix, transposed (cols x rows). The engines keep W^m transposed, as Wt
// (fan_in x n_m: column j of W, the weights out of input j, is row j of Wt).
std::vector<float> transposed(const std::vector<float>& a, int64_t rows, int64_t cols);

// Throws Error(OutOfRange) unless `w` has the shapes `c` implies and only finite values.
void check_weights(const Config& c, const std::vector<LayerWeights>& w);

// The initial weights of docs/papers.md §10 (order §10.6, then symmetric feedback, then sparse masks),
// drawn from the kInit / kSymNoise / kSparse streams. masks[m] lists the zeroed entries of Y^m.
void init_weights(const Config& c, const Derived& d, std::vector<LayerWeights>& w,
                  std::vector<std::vector<int64_t>>& masks);

// Recomputes symmetric feedback (docs/papers.md §10.5) from the transposed feed-forward weights
// Wt[m] (fan_in(m) x n_m, i.e. W^m transposed, row-major) into Y[m] (n_m x fb_size(m)), with
// N(0, sd^2) noise per entry keyed by (epoch, example) when noisy, then applies the sparse masks
// and their gain (the gain is part of every symmetric copy; it never compounds).
void make_symmetric(const Config& c, const std::vector<std::vector<float>>& Wt, std::vector<std::vector<float>>& Y,
                    const std::vector<std::vector<int64_t>>& masks, uint64_t epoch, uint64_t example);

// Zeroes the masked entries of Y (after a learned-feedback update: masked entries stay 0).
void apply_mask(std::vector<float>& Y, const std::vector<int64_t>& mask);

// The masks of sparse feedback (docs/papers.md §10.4): floor(drop * size) entries of each Y^m chosen
// uniformly without replacement (partial Fisher-Yates on the kSparse stream), sorted.
std::vector<std::vector<int64_t>> sparse_masks(const Config& c);

// A uniformly random permutation of 0..n-1 for an epoch (Fisher-Yates on the kShuffle stream).
std::vector<int32_t> permutation(uint64_t seed, uint64_t epoch, int64_t n);

// The length of a training phase (0 forward, 1 target) of an example (docs/papers.md §8.1).
int64_t phase_length(const Config& c, uint64_t epoch, uint64_t example, int phase);

// Plateau offset delta = min(floor(|N(0, sd^2)|), cap) of a hidden unit (docs/papers.md §8.4).
int64_t plateau_offset(const Config& c, uint64_t epoch, uint64_t example, int phase, int64_t hidden_unit);

// Where training stands: the example counters that key every training draw, and the number of
// evaluations so far (keys test draws). Saved with the weights, it resumes a run exactly.
struct Position {
  uint64_t epoch = 0;
  uint64_t example = 0;  // next example within the epoch
  uint64_t eval_round = 0;
};

// Per-step recording (the original's record_voltages, record_phase_times, record_plateau_times;
// docs/papers.md §15, §18 item 7). Rows of the per-step arrays are (recorded example, step): example r owns
// rows step_offset[r] .. step_offset[r + 1] - 1, one per step from its first forward step (training:
// L_f + L_t rows; tests: l_test rows); each row holds the chosen units of the layer in the order given.
struct RecordRequest {
  std::vector<int64_t> examples;            // strictly increasing positions within the chunk (train) or image indices (evaluate)
  std::vector<std::vector<int32_t>> units;  // per layer: distinct unit indices to record
  bool voltages = false;                    // A (hidden), B, C, lambda of every step
  bool phase_times = false;                 // training: L_f, L_t of every example of the chunk
  bool plateau_times = false;               // training: plateau steps of every hidden unit of the recorded examples
};

struct Recording {
  std::vector<int64_t> step_offset;  // examples.size() + 1 row offsets
  std::vector<std::vector<float>> A, B, C, lam;  // per layer: rows x units[m]; A empty for the output layer
  std::vector<int32_t> phase_lengths;  // count x 2 (forward, target), every example of the chunk
  // recorded examples x hidden units (all hidden layers, bottom-up) x 2: the step, counted from the
  // example's first forward step, at which the forward / target plateau is taken (L_f - 1 - delta_f,
  // L_f + L_t - 1 - delta_t; docs/papers.md §8.4)
  std::vector<int32_t> plateau_times;
};

struct TrainRequest {
  const uint8_t* images = nullptr;  // n_images x n_in pixels 0..255, row-major
  const uint8_t* labels = nullptr;  // n_images labels 0..9
  int64_t n_images = 0;
  const int32_t* order = nullptr;   // count indices into images, in presentation order
  int64_t count = 0;
  int64_t batch_size = 1;           // 1: online (faithful); B > 1: summed updates of B examples (docs/papers.md §17.3)
  bool record_angle = false;
  const RecordRequest* record = nullptr;  // null: no per-step recording (needs supports_recording())
};

struct TrainResult {
  std::vector<float> loss;           // per example: mean (lambda_t - lambda_max sigma(C_f))^2
  std::vector<int32_t> prediction;   // per example: argmax of class-mean forward C_f (training error)
  std::vector<float> angle;          // count x num_hidden degrees, if recorded (NaN when undefined)
  Recording record;                  // filled when req.record is set
};

class Engine;        // segregated_engine.h: what a backend implements
struct EngineSetup;  // segregated_engine.h: what an engine is made from
using EngineFactory = std::function<std::unique_ptr<Engine>(const EngineSetup&)>;

// The network: one backend-neutral driver (native/common/segregated_driver.cpp) over a backend's
// engine (segregated_engine.h). It holds the configuration and the position, checks requests, lays
// out recordings, owns the state format, runs the chunk loop and handles feedback; the engine
// simulates slots and keeps the weights.
class Network {
 public:
  // Validates c, initialises the weights from its seed and makes the engine with `make`.
  Network(const Config& c, const EngineFactory& make);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const Config& config() const { return c_; }
  const Derived& derived() const { return d_; }

  // Runs `count` training examples from the current position and advances it.
  void train_chunk(const TrainRequest& req, TrainResult& out);
  // Tests n images (state reset per image, docs/papers.md §12) with draws keyed by `round` and by
  // each image's index in the whole set, offset + i (offset: the index of images[0] in it, so that
  // a set scored in parts draws what one call would); writes the prediction and the
  // window-averaged output somatic voltages (n x n_out) when not null.
  void evaluate(const uint8_t* images, int64_t n, uint64_t round, int32_t* prediction, float* voltages,
                uint64_t offset = 0);

  // Whether the engine records per-step values (RecordRequest with voltages).
  bool supports_recording() const;
  // evaluate() that also records the chosen images' steps (rec.examples are indices into images).
  void evaluate_recorded(const uint8_t* images, int64_t n, uint64_t round, int32_t* prediction, float* voltages,
                         const RecordRequest& rec, Recording& out, uint64_t offset = 0);

  std::vector<LayerWeights> get_weights() const;
  // Replaces the weights (sizes checked) and resets cached drives.
  void set_weights(const std::vector<LayerWeights>& w);
  void set_learning_rates(const std::vector<double>& f_etas, const std::vector<double>& b_etas);
  // Zeroes the dynamic state of every training slot (potentials, spike histories).
  void reset_state();
  // The dynamic state of the training slots (potentials, rates, spike histories) that carries
  // from one example to the next, as numbers (exact: float32 values and small integers in
  // doubles; encode_state in segregated_engine.h), so that a run checkpointed mid-epoch resumes
  // bit for bit. set_state checks it.
  std::vector<double> get_state() const;
  void set_state(const std::vector<double>& state);

  Position position() const { return pos_; }
  void set_position(const Position& p) { pos_ = p; }

 private:
  void test(const uint8_t* images, int64_t n, uint64_t round, uint64_t offset, int32_t* prediction, float* voltages,
            const RecordRequest* rec, Recording* out);
  void apply_updates(int64_t slots, uint64_t epoch, uint64_t example);

  Config c_;
  Derived d_;
  Position pos_;
  std::vector<std::vector<int64_t>> masks_;  // sparse feedback: the zeroed entries of each Y^m
  std::unique_ptr<Engine> engine_;
};

// The network on the CPU engine (native/cpu/segregated_cpu.cpp).
std::unique_ptr<Network> make_cpu_network(const Config& c);

// The network on the CUDA engine on device `device` (native/cuda/segregated.cu): the same results,
// weights resident on the device. Throws Error(DeviceUnavailable) when CUDA was not compiled in.
std::unique_ptr<Network> make_cuda_network(const Config& c, int device);

}  // namespace dendrite::seg

// The segregated network's driver and the engines it drives (docs/segregated.md, "Implementation").
//
// seg::Network (segregated.h) is the one backend-neutral driver: it holds the configuration and
// the position, checks requests, lays out recordings, owns the versioned state format of
// get_state / set_state, runs the chunk loop and handles feedback (symmetric copies, sparse masks,
// learned-feedback updates). A backend implements the narrow Engine interface below: run these
// examples on these slots, apply the summed updates of a layer, read or write slot state and
// weights. The CPU engine is native/cpu/segregated_cpu.cpp, the CUDA engine
// native/cuda/segregated.cu; both compute every value with the equations of segregated_step.h.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "philox.h"

#include "segregated.h"

namespace dendrite::seg {

// ---------------------------------------------------------------------------------------------
// Recording layout (docs/papers.md §15, §18 item 7).

// Throws Error(OutOfRange) unless r fits a chunk of `count` examples (or images) of network c.
// The binding checks requests first, with JS errors; this guards native callers.
void check_record(const Config& c, const RecordRequest& r, int64_t count);

// Sizes `out` for a training chunk of `count` examples starting at (epoch, first): the phase
// lengths of every example, the plateau times and per-step rows of the recorded ones. Returns per
// chunk position the first row of its steps, or -1 when its steps are not recorded.
std::vector<int64_t> layout_train_recording(const Config& c, const Derived& d, const RecordRequest& r, uint64_t epoch,
                                            uint64_t first, int64_t count, Recording& out);

// The same for a test of n images (l_test rows per recorded image); returns per image its first row or -1.
std::vector<int64_t> layout_test_recording(const Config& c, const RecordRequest& r, int64_t n, Recording& out);

// ---------------------------------------------------------------------------------------------
// Slot state: what a training slot carries from one example to the next (potentials, rates and
// spike histories; everything else is rebuilt per example), in one format for every engine.

// The spike history of one population: `mem` steps in storage order (head: the most recent step),
// per step the units that fired, ascending, and their counts.
struct SpikeRing {
  int64_t head = 0;
  std::vector<std::vector<int32_t>> idx;
  std::vector<std::vector<float>> cnt;
};

struct SlotState {
  struct Layer {
    std::vector<float> C, A, lam;  // n each
    SpikeRing spikes;
  };
  SpikeRing input;
  std::vector<Layer> layers;
};

// The numbers of get_state / set_state, version 1: [1, slots, mem, then per slot: the input ring,
// then per layer n, C, A, lam and its ring], a ring being [head, then per step: count, units...,
// counts...]. Float32 values and small integers, exact in doubles.
std::vector<double> encode_state(const Config& c, const std::vector<SlotState>& slots);
// The inverse; throws Error(OutOfRange) "setState: ..." when the numbers are not a state of network c.
std::vector<SlotState> decode_state(const Config& c, const std::vector<double>& state);

// ---------------------------------------------------------------------------------------------
// The engine interface.

// What an engine is made from (the driver derives it once).
struct EngineSetup {
  Config c;  // checked; its learning rates are not read (the driver passes them with each update)
  Derived d;
  StepParams p;
  int64_t R = 0;  // rows of apical history a training phase keeps: integration_time (+ plateau_cap when jittered)
  // Per layer: whether its spikes are drawn in training (something reads them: the layer above with
  // spiking feed-forward, a hidden layer's apical compartment with spiking feedback) and in tests
  // (the apical compartment only when it reaches the soma, g_A != 0; a recorded test draws the
  // training layers' spikes, for the apical potentials it records: separate counters of the same
  // stream, so nothing else changes).
  std::vector<bool> spikes_train, spikes_test;
  std::vector<std::vector<int64_t>> masks;  // sparse feedback: the zeroed entries of each Y^m
};

// One training example on one slot.
struct TrainJob {
  int64_t row = 0;               // its image: row `row` of the staged chunk
  int32_t label = 0;
  uint64_t epoch = 0, example = 0;  // the keys of its draws (plateau jitter)
  philox::Stream spikes{};          // its spike stream (train_spike_stream)
  int64_t Lf = 0, Lt = 0;           // its phase lengths
  int64_t rec_row = -1;             // the recording row of its first step, or -1
};

// Where run_examples writes: per job (index b) loss[b], prediction[b] and, when angle is not
// null, angle[b * hidden + m]; recorded steps into record (rows from the jobs' rec_row).
struct ExampleOutput {
  float* loss = nullptr;
  int32_t* prediction = nullptr;
  float* angle = nullptr;
  Recording* record = nullptr;
  const std::vector<std::vector<int32_t>>* units = nullptr;  // per layer: the recorded units
};

// A test of n images: image i on a slot at rest, spikes from test_spike_stream(seed, round, offset + i).
struct TestBatch {
  const uint8_t* images = nullptr;  // n x n_in
  int64_t n = 0;
  uint64_t round = 0, offset = 0;
  int32_t* prediction = nullptr;    // n
  float* voltages = nullptr;        // n x n_out, or null
  const int64_t* rec_row = nullptr;  // per image: the recording row of its first step or -1; null: none
  Recording* record = nullptr;
  const std::vector<std::vector<int32_t>>* units = nullptr;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // ---- weights (W as users see it: n x fan_in row-major; LayerWeights) ----
  // Replaces every weight (shapes checked by the driver); drives cached from W become stale.
  virtual void write_weights(const std::vector<LayerWeights>& w) = 0;
  virtual std::vector<LayerWeights> read_weights() const = 0;

  // ---- training slots: the state carried from one example to the next ----
  virtual int64_t train_slots() const = 0;
  // At least n training slots: the existing ones keep their state, new ones start at rest.
  virtual void grow_train_slots(int64_t n) = 0;
  virtual void reset_train_slots() = 0;  // every training slot at rest
  virtual std::vector<SlotState> read_train_slots() const = 0;
  virtual void write_train_slots(const std::vector<SlotState>& slots) = 0;  // replaces them all

  // ---- running ----
  // The images of a training chunk in presentation order (row i: images + order[i] * n_in), read
  // by the run_examples calls that follow, until the next stage_chunk.
  virtual void stage_chunk(const uint8_t* images, const int32_t* order, int64_t count) = 0;
  // Runs jobs[b] on training slot b, b < n (both phases, then the errors, docs/papers.md §7-9).
  virtual void run_examples(const TrainJob* jobs, int64_t n, const ExampleOutput& out) = 0;
  // Tests images (docs/papers.md §12) on slots of its own (the training slots are untouched).
  virtual void run_tests(const TestBatch& t) = 0;
  // Whether run_examples and run_tests write per-step recordings.
  virtual bool can_record() const = 0;

  // ---- updates (docs/papers.md §9), after the examples of training slots 0..slots-1, each summed
  // over them in slot order; the driver calls them top layer first ----
  // The original's in-place backprop: E^m of every slot from the already-updated W^(m+1) and E^(m+1).
  virtual void replay_backprop(int64_t m, int64_t slots) = 0;
  // (U7-U9) learned feedback of hidden layer m at rate eta: Y^m (and c^m) descend.
  virtual void update_feedback(int64_t m, int64_t slots, float eta) = 0;
  // Zeroes the masked entries of Y^m (EngineSetup::masks[m]).
  virtual void mask_feedback(int64_t m) = 0;
  // (U2, U3) / (U5, U6): W^m and b^m descend at etaP = eta_m P; the drives cached from W^m are stale.
  virtual void update_forward(int64_t m, int64_t slots, float etaP) = 0;
  // Calls f with the transposed feed-forward weights (Wt[m]: fan_in(m) x n_m row-major) and the
  // feedback weights (Y[m]: n_m x fb_size(m)) as host arrays; what f writes into Y is kept
  // (symmetric feedback: make_symmetric).
  using FeedbackEdit = std::function<void(const std::vector<std::vector<float>>& Wt, std::vector<std::vector<float>>& Y)>;
  virtual void edit_feedback(const FeedbackEdit& f) = 0;

  // ---- online training: one example and its updates in one call ----
  // Whether run_online may take the chunk's examples (one slot, none recorded): when the updates
  // are only update_forward's (no learned or symmetric feedback, no backprop) and `record_angle`
  // asks for no angles.
  virtual bool fuses_online(bool record_angle) const {
    (void)record_angle;
    return false;
  }
  // run_examples(&job, 1, out), then update_forward(m, 1, etaP[m]) for every layer m, top first,
  // with the same results; `next` (or null) is the chunk's next job, which an engine may prepare
  // meanwhile (the CPU engine: its image and first input spikes, on a thread that would wait).
  virtual void run_online(const TrainJob& job, const TrainJob* next, const std::vector<float>& etaP,
                          const ExampleOutput& out) {
    (void)next;
    run_examples(&job, 1, out);
    for (int64_t m = static_cast<int64_t>(etaP.size()) - 1; m >= 0; --m) update_forward(m, 1, etaP[m]);
  }
};

}  // namespace dendrite::seg

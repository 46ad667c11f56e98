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
#include <vector>

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

}  // namespace dendrite::seg

// The segregated network's backend-neutral driver (segregated_engine.h).
#include <algorithm>
#include <cmath>
#include <string>

#include "error.h"
#include "segregated_engine.h"

namespace dendrite::seg {

void check_record(const Config& c, const RecordRequest& r, int64_t count) {
  auto bad = [](const std::string& why) { fail(ErrorKind::OutOfRange, "segregated network: record " + why); };
  for (size_t i = 0; i < r.examples.size(); ++i) {
    if (r.examples[i] < 0 || r.examples[i] >= count) bad("examples must lie in [0, " + std::to_string(count) + ")");
    if (i > 0 && r.examples[i] <= r.examples[i - 1]) bad("examples must be strictly increasing");
  }
  const int64_t M = c.num_layers();
  if (static_cast<int64_t>(r.units.size()) != M) bad("units must list one array per layer");
  for (int64_t m = 0; m < M; ++m) {
    std::vector<bool> seen(static_cast<size_t>(c.layers[m]), false);
    for (int32_t u : r.units[m]) {
      if (u < 0 || u >= c.layers[m] || seen[u]) bad("units of layer " + std::to_string(m) + " must be distinct indices below its size");
      seen[u] = true;
    }
  }
}

namespace {

// Sizes the per-step arrays of a recording whose example r has steps[r] steps; returns per
// recorded example its first row.
void size_rows(const Config& c, const RecordRequest& r, const std::vector<int64_t>& steps, Recording& out) {
  const int64_t M = c.num_layers();
  out.step_offset.assign(steps.size() + 1, 0);
  for (size_t i = 0; i < steps.size(); ++i) out.step_offset[i + 1] = out.step_offset[i] + steps[i];
  const size_t rows = r.voltages ? static_cast<size_t>(out.step_offset.back()) : 0;
  for (auto* v : {&out.A, &out.B, &out.C, &out.lam}) v->assign(static_cast<size_t>(M), {});
  for (int64_t m = 0; m < M; ++m) {
    const size_t k = rows * r.units[m].size();
    out.B[m].assign(k, 0.0f);
    out.C[m].assign(k, 0.0f);
    out.lam[m].assign(k, 0.0f);
    if (m < M - 1) out.A[m].assign(k, 0.0f);
  }
}

// Per position of a chunk (or image of a test) of n: the first row of its steps, or -1.
std::vector<int64_t> rows_of(const RecordRequest& r, int64_t n, const Recording& out) {
  std::vector<int64_t> row(static_cast<size_t>(n), -1);
  if (!r.voltages) return row;
  for (size_t i = 0; i < r.examples.size(); ++i) row[r.examples[i]] = out.step_offset[i];
  return row;
}

}  // namespace

std::vector<int64_t> layout_train_recording(const Config& c, const Derived& d, const RecordRequest& r, uint64_t epoch,
                                            uint64_t first, int64_t count, Recording& out) {
  out.phase_lengths.clear();
  if (r.phase_times) {
    out.phase_lengths.resize(static_cast<size_t>(2 * count));
    for (int64_t i = 0; i < count; ++i)
      for (int ph = 0; ph < 2; ++ph)
        out.phase_lengths[2 * i + ph] = static_cast<int32_t>(phase_length(c, epoch, first + static_cast<uint64_t>(i), ph));
  }
  std::vector<int64_t> steps;
  const int64_t H = d.units - c.n_in - c.n_out();  // hidden units
  out.plateau_times.clear();
  for (int64_t pos : r.examples) {
    const uint64_t ex = first + static_cast<uint64_t>(pos);
    const int64_t Lf = phase_length(c, epoch, ex, 0), Lt = phase_length(c, epoch, ex, 1);
    steps.push_back(Lf + Lt);
    if (r.plateau_times) {
      for (int64_t h = 0; h < H; ++h) {  // docs/papers.md §8.4: the plateau is taken at step L - 1 - delta of its phase
        out.plateau_times.push_back(static_cast<int32_t>(Lf - 1 - plateau_offset(c, epoch, ex, 0, h)));
        out.plateau_times.push_back(static_cast<int32_t>(Lf + Lt - 1 - plateau_offset(c, epoch, ex, 1, h)));
      }
    }
  }
  size_rows(c, r, steps, out);
  return rows_of(r, count, out);
}

std::vector<int64_t> layout_test_recording(const Config& c, const RecordRequest& r, int64_t n, Recording& out) {
  size_rows(c, r, std::vector<int64_t>(r.examples.size(), c.l_test), out);
  out.phase_lengths.clear();
  out.plateau_times.clear();
  return rows_of(r, n, out);
}

std::vector<double> encode_state(const Config& c, const std::vector<SlotState>& slots) {
  std::vector<double> out = {1.0, static_cast<double>(slots.size()), static_cast<double>(c.mem)};
  auto ring = [&](const SpikeRing& r) {
    out.push_back(static_cast<double>(r.head));
    for (size_t q = 0; q < r.idx.size(); ++q) {
      out.push_back(static_cast<double>(r.idx[q].size()));
      for (int32_t i : r.idx[q]) out.push_back(i);
      for (float v : r.cnt[q]) out.push_back(v);
    }
  };
  for (const SlotState& s : slots) {
    ring(s.input);
    for (const SlotState::Layer& l : s.layers) {
      out.push_back(static_cast<double>(l.C.size()));
      for (const std::vector<float>* v : {&l.C, &l.A, &l.lam}) out.insert(out.end(), v->begin(), v->end());
      ring(l.spikes);
    }
  }
  return out;
}

std::vector<SlotState> decode_state(const Config& c, const std::vector<double>& st) {
  size_t p = 0;
  auto bad = [](const std::string& why) { fail(ErrorKind::OutOfRange, "setState: " + why); };
  auto next = [&]() {
    if (p >= st.size()) bad("the state ends early");
    return st[p++];
  };
  auto integer = [&](double lo, double hi) {
    const double v = next();
    if (!(v >= lo && v <= hi) || std::floor(v) != v) bad("an integer field is out of range");
    return static_cast<int64_t>(v);
  };
  if (integer(1, 1) != 1) bad("unknown version");
  const int64_t slots = integer(1, 4096);
  if (integer(static_cast<double>(c.mem), static_cast<double>(c.mem)) != c.mem) bad("mem differs");
  auto ring = [&](SpikeRing& r, int64_t units) {
    r.head = integer(0, static_cast<double>(c.mem - 1));
    r.idx.assign(static_cast<size_t>(c.mem), {});
    r.cnt.assign(static_cast<size_t>(c.mem), {});
    for (int64_t q = 0; q < c.mem; ++q) {
      const int64_t k = integer(0, static_cast<double>(units));
      for (int64_t i = 0; i < k; ++i) {
        const int64_t u = integer(0, static_cast<double>(units - 1));
        // Sums over a step's events run in unit order on every engine.
        if (i > 0 && u <= r.idx[q].back()) bad("a spike history must list a step's units in increasing order, each once");
        r.idx[q].push_back(static_cast<int32_t>(u));
      }
      for (int64_t i = 0; i < k; ++i) r.cnt[q].push_back(static_cast<float>(integer(1, 2147483647.0)));
    }
  };
  std::vector<SlotState> out(static_cast<size_t>(slots));
  for (SlotState& s : out) {
    ring(s.input, c.n_in);
    s.layers.resize(c.layers.size());
    for (size_t m = 0; m < c.layers.size(); ++m) {
      SlotState::Layer& l = s.layers[m];
      const int64_t n = c.layers[m];
      if (integer(static_cast<double>(n), static_cast<double>(n)) != n) bad("a layer size differs");
      for (std::vector<float>* v : {&l.C, &l.A, &l.lam}) {
        v->resize(static_cast<size_t>(n));
        for (float& x : *v) {
          const double d = next();
          if (!std::isfinite(d) || static_cast<double>(static_cast<float>(d)) != d) bad("potentials must be float32 values");
          x = static_cast<float>(d);
        }
      }
      ring(l.spikes, n);
    }
  }
  if (p != st.size()) bad("the state has trailing values");
  return out;
}

// ---------------------------------------------------------------------------------------------
// The network.

namespace {

EngineSetup setup_of(const Config& c, const Derived& d, const std::vector<std::vector<int64_t>>& masks) {
  EngineSetup s;
  s.c = c;
  s.d = d;
  s.p = step_params(c, d);
  s.R = c.integration_time + (c.rand_plateau_times ? c.plateau_cap : 0);
  const int64_t M = c.num_layers();
  s.spikes_train.assign(static_cast<size_t>(M), false);
  s.spikes_test.assign(static_cast<size_t>(M), false);
  for (int64_t m = 0; m < M; ++m) {
    if (c.spiking_feedforward && m < M - 1) s.spikes_train[m] = s.spikes_test[m] = true;
  }
  if (c.spiking_feedback) {
    for (int64_t m = 0; m < M - 1; ++m) {
      s.spikes_train[c.fb_layer(m)] = true;
      if (c.g_A != 0.0) s.spikes_test[c.fb_layer(m)] = true;
    }
  }
  s.masks = masks;
  return s;
}

}  // namespace

Network::Network(const Config& c, const EngineFactory& make) : c_(c) {
  validate(c_);
  d_ = derive(c_);
  std::vector<LayerWeights> w;
  init_weights(c_, d_, w, masks_);
  engine_ = make(setup_of(c_, d_, masks_));
  engine_->write_weights(w);
  engine_->grow_train_slots(1);
}

Network::~Network() = default;

bool Network::supports_recording() const { return engine_->can_record(); }

std::vector<LayerWeights> Network::get_weights() const { return engine_->read_weights(); }

void Network::set_weights(const std::vector<LayerWeights>& w) {
  check_weights(c_, w);
  engine_->write_weights(w);
}

void Network::set_learning_rates(const std::vector<double>& f, const std::vector<double>& b) {
  Config next = c_;
  next.f_etas = f;
  next.b_etas = b;
  validate(next);
  c_ = next;
}

void Network::reset_state() { engine_->reset_train_slots(); }

std::vector<double> Network::get_state() const { return encode_state(c_, engine_->read_train_slots()); }

void Network::set_state(const std::vector<double>& state) { engine_->write_train_slots(decode_state(c_, state)); }

void Network::train_chunk(const TrainRequest& req, TrainResult& out) {
  const int64_t count = req.count;
  const int64_t H = c_.num_hidden();
  out.loss.assign(static_cast<size_t>(count), 0.0f);
  out.prediction.assign(static_cast<size_t>(count), 0);
  out.angle.assign(req.record_angle ? static_cast<size_t>(count * H) : 0, 0.0f);
  const int64_t Bsz = std::max<int64_t>(1, req.batch_size);
  if (engine_->train_slots() < Bsz) engine_->grow_train_slots(Bsz);
  // Recording: the first row of each chunk position's steps, or -1.
  const RecordRequest* rq = req.record;
  std::vector<int64_t> rec_row;
  if (rq) {
    check_record(c_, *rq, count);
    if (rq->voltages && !engine_->can_record()) fail(ErrorKind::InvalidArgument, "segregated network: this backend cannot record per-step values");
    rec_row = layout_train_recording(c_, d_, *rq, pos_.epoch, pos_.example, count, out.record);
  }
  engine_->stage_chunk(req.images, req.order, count);
  // The job of chunk row i, example `ex` of epoch `epoch`.
  auto job_of = [&](int64_t i, uint64_t epoch, uint64_t ex) {
    TrainJob j;
    j.row = i;
    j.label = req.labels[req.order[i]];
    j.epoch = epoch;
    j.example = ex;
    j.spikes = train_spike_stream(c_.seed, epoch, ex);
    j.Lf = phase_length(c_, epoch, ex, 0);
    j.Lt = phase_length(c_, epoch, ex, 1);
    j.rec_row = rq ? rec_row[i] : -1;
    return j;
  };
  // Online training without recordings: each example and its updates in one engine call, where
  // the engine can (Engine::run_online), with the next example's job to prepare.
  const bool online = Bsz == 1 && !rq && engine_->fuses_online(req.record_angle);
  std::vector<float> etaP;
  for (int64_t m = 0; m < c_.num_layers(); ++m) {
    etaP.push_back(static_cast<float>(c_.f_etas[m] * (m == c_.num_layers() - 1 ? d_.P_final : d_.P_hidden)));
  }
  std::vector<TrainJob> jobs(static_cast<size_t>(Bsz));
  for (int64_t i0 = 0; i0 < count; i0 += Bsz) {
    const int64_t nb = std::min(Bsz, count - i0);
    const uint64_t epoch = pos_.epoch, ex0 = pos_.example;
    for (int64_t b = 0; b < nb; ++b) jobs[b] = job_of(i0 + b, epoch, ex0 + static_cast<uint64_t>(b));
    ExampleOutput o;
    o.loss = out.loss.data() + i0;
    o.prediction = out.prediction.data() + i0;
    o.angle = req.record_angle && H > 0 ? out.angle.data() + i0 * H : nullptr;
    o.record = rq ? &out.record : nullptr;
    o.units = rq ? &rq->units : nullptr;
    if (online) {
      const TrainJob next = i0 + 1 < count ? job_of(i0 + 1, epoch, ex0 + 1) : TrainJob{};
      engine_->run_online(jobs[0], i0 + 1 < count ? &next : nullptr, etaP, o);
    } else {
      engine_->run_examples(jobs.data(), nb, o);
      apply_updates(nb, epoch, ex0);
    }
    pos_.example += static_cast<uint64_t>(nb);
  }
}

// The updates after a batch (docs/papers.md §9), top layer first; then symmetric feedback copies
// the new feed-forward weights (§10.5: noise keyed by the batch's first example, masks and gain).
void Network::apply_updates(int64_t slots, uint64_t epoch, uint64_t example) {
  const int64_t M = c_.num_layers();
  for (int64_t m = M - 1; m >= 0; --m) {
    const bool out = m == M - 1;
    if (!out && c_.backprop && c_.backprop_inplace) engine_->replay_backprop(m, slots);
    if (!out && c_.feedback == FeedbackKind::Learned) {
      engine_->update_feedback(m, slots, static_cast<float>(c_.b_etas[m]));
      if (c_.sparse_feedback) engine_->mask_feedback(m);  // masked entries stay 0
    }
    engine_->update_forward(m, slots, static_cast<float>(c_.f_etas[m] * (out ? d_.P_final : d_.P_hidden)));
  }
  if (c_.feedback == FeedbackKind::Symmetric && M > 1) {
    engine_->edit_feedback([&](const std::vector<std::vector<float>>& Wt, std::vector<std::vector<float>>& Y) {
      make_symmetric(c_, Wt, Y, masks_, epoch, example);
    });
  }
}

void Network::evaluate(const uint8_t* images, int64_t n, uint64_t round, int32_t* prediction, float* voltages,
                       uint64_t offset) {
  test(images, n, round, offset, prediction, voltages, nullptr, nullptr);
}

void Network::evaluate_recorded(const uint8_t* images, int64_t n, uint64_t round, int32_t* prediction, float* voltages,
                                const RecordRequest& rec, Recording& out, uint64_t offset) {
  if (!engine_->can_record()) fail(ErrorKind::InvalidArgument, "segregated network: this backend cannot record per-step values");
  check_record(c_, rec, n);
  test(images, n, round, offset, prediction, voltages, &rec, &out);
}

void Network::test(const uint8_t* images, int64_t n, uint64_t round, uint64_t offset, int32_t* prediction,
                   float* voltages, const RecordRequest* rec, Recording* out) {
  // The example field of a test stream holds 32 bits: offset + i must fit.
  if (n < 0 || offset > (uint64_t{1} << 32) - static_cast<uint64_t>(n)) {
    fail(ErrorKind::OutOfRange, "segregated network: evaluate offset + count must not exceed 2^32");
  }
  const std::vector<int64_t> rec_row = rec ? layout_test_recording(c_, *rec, n, *out) : std::vector<int64_t>();
  if (n == 0) return;
  TestBatch t;
  t.images = images;
  t.n = n;
  t.round = round;
  t.offset = offset;
  t.prediction = prediction;
  t.voltages = voltages;
  t.rec_row = rec ? rec_row.data() : nullptr;
  t.record = out;
  t.units = rec ? &rec->units : nullptr;
  engine_->run_tests(t);
}

}  // namespace dendrite::seg

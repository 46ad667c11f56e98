// The segregated-dendrite network (native/common/segregated.h): on the CPU, two networks built
// from the same seed train and test bit-identically; with a CUDA device, the CUDA network against
// the CPU network from the same seed.
//
// Tolerances, CUDA against the CPU:
// - initial weights: exact (both come from the host's init_weights);
// - test predictions: exact, window-averaged output voltages: relative 1e-5 of the largest
//   |voltage| (the bound). Both sides sum in the same order without FMA and draw the same
//   Philox counts, so they should agree to the bit;
// - weights after one online example (forward phase, target phase, updates): within 1e-5 of the
//   largest |weight|;
// - backprop angles: 1e-3 degrees (acos may differ by an ulp between libm and CUDA); losses: relative 1e-4;
// - weights after 20 online (and 5 x batch-4) training examples: max |W_cuda - W_cpu| within 1e-3
//   of max |W_cpu - W_init| (relative to what training changed): rounding differences in a
//   potential compound through 20 updates (each scaled by eta P = 0.21 x 500 at the hidden layer),
//   so the weights may drift further apart than the voltages of a single test.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "../common/devices.h"
#include "../common/segregated.h"
#include "../common/segregated_step.h"
#include "checks.h"
#include "digits.h"

namespace dendrite::test {
namespace {

using seg::Config;
using seg::LayerWeights;
using seg::Network;

Config make_config(const std::vector<int64_t>& layers, bool spiking, uint64_t seed) {
  Config c = seg::preset(spiking);
  c.layers = layers;
  c.f_etas.assign(layers.size(), 0.21);
  c.seed = seed;
  c.threads = 2;
  return c;
}

struct Case {
  std::string name;
  Config c;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back({"784-30-10 spiking", make_config({30, 10}, true, 11)});
  v.push_back({"784-500-10 spiking", make_config({500, 10}, true, 12)});
  v.push_back({"784-30-10 nonspiking", make_config({30, 10}, false, 13)});
  v.push_back({"784-500-10 nonspiking", make_config({500, 10}, false, 14)});
  {
    Config c = make_config({30, 10}, true, 15);  // learned sparse feedback with bias, plateau jitter
    c.feedback = seg::FeedbackKind::Learned;
    c.b_etas = {0.05};
    c.feedback_bias = true;
    c.sparse_feedback = true;
    c.rand_plateau_times = true;
    c.integration_time = 20;
    c.plateau_cap = 5;
    v.push_back({"784-30-10 spiking learned sparse biased jittered", c});
  }
  {
    Config c = make_config({40, 20, 10}, true, 16);  // symmetric noisy feedback, layer-wise, g_A != 0
    c.feedback = seg::FeedbackKind::Symmetric;
    c.noisy_symmetric = true;
    c.broadcast = false;
    c.g_A = 0.05;
    v.push_back({"784-40-20-10 spiking symmetric layerwise gA", c});
  }
  {
    Config c = make_config({30, 20, 10}, false, 17);  // backprop control (pre-update W)
    c.f_etas = {0.1, 0.1, 0.1};
    c.backprop = true;
    v.push_back({"784-30-20-10 nonspiking backprop", c});
  }
  {
    Config c = make_config({30, 20, 10}, true, 18);  // the original's in-place backprop replay
    c.f_etas = {0.1, 0.1, 0.1};
    c.backprop = true;
    c.backprop_inplace = true;
    v.push_back({"784-30-20-10 spiking backprop in place", c});
  }
  return v;
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

// A weight set of the same shapes, all zero.
std::vector<LayerWeights> zero_like(std::vector<LayerWeights> w) {
  for (LayerWeights& l : w)
    for (std::vector<float>* v : {&l.W, &l.b, &l.Y, &l.c}) std::fill(v->begin(), v->end(), 0.0f);
  return w;
}

// Max |a - b| over every parameter of two weight sets.
float max_diff(const std::vector<LayerWeights>& a, const std::vector<LayerWeights>& b) {
  float m = 0;
  for (size_t l = 0; l < a.size(); ++l) {
    const std::vector<float>* pa[] = {&a[l].W, &a[l].b, &a[l].Y, &a[l].c};
    const std::vector<float>* pb[] = {&b[l].W, &b[l].b, &b[l].Y, &b[l].c};
    for (int k = 0; k < 4; ++k) {
      if (pa[k]->size() != pb[k]->size()) return INFINITY;
      for (size_t i = 0; i < pa[k]->size(); ++i) {
        const float d = std::fabs((*pa[k])[i] - (*pb[k])[i]);
        if (!(d <= m)) m = std::isnan(d) ? INFINITY : d;
      }
    }
  }
  return m;
}

bool same_bits(const std::vector<LayerWeights>& a, const std::vector<LayerWeights>& b) {
  if (a.size() != b.size()) return false;
  for (size_t l = 0; l < a.size(); ++l) {
    if (a[l].W != b[l].W || a[l].b != b[l].b || a[l].Y != b[l].Y || a[l].c != b[l].c) return false;
  }
  return true;
}

struct Run {
  std::vector<LayerWeights> w0, w_one, w_online, w_batch;
  std::vector<int32_t> pred, train_pred;
  std::vector<float> volt, loss, angle;
  std::vector<double> state;
};

// Tests 16 images, trains 1 + 19 online examples (weights kept after the first), tests again,
// then 20 more in batches of 4.
Run exercise(Network& net, const Digits& d) {
  Run r;
  r.w0 = net.get_weights();
  const int64_t n_test = 16, n_out = net.config().n_out();
  r.pred.resize(n_test);
  r.volt.resize(static_cast<size_t>(n_test * n_out));
  net.evaluate(d.images.data(), n_test, 0, r.pred.data(), r.volt.data());
  seg::TrainRequest req;
  req.images = d.images.data();
  req.labels = d.labels.data();
  req.n_images = d.n;
  req.order = d.order.data();
  req.count = 1;
  req.record_angle = true;
  seg::TrainResult out;
  net.train_chunk(req, out);
  r.w_one = net.get_weights();
  r.train_pred = out.prediction;
  r.loss = out.loss;
  r.angle = out.angle;
  req.order = d.order.data() + 1;
  req.count = 19;
  net.train_chunk(req, out);
  r.train_pred.insert(r.train_pred.end(), out.prediction.begin(), out.prediction.end());
  r.loss.insert(r.loss.end(), out.loss.begin(), out.loss.end());
  r.angle.insert(r.angle.end(), out.angle.begin(), out.angle.end());
  req.record_angle = false;
  r.w_online = net.get_weights();
  std::vector<int32_t> p2(n_test);
  std::vector<float> v2(static_cast<size_t>(n_test * n_out));
  net.evaluate(d.images.data(), n_test, 1, p2.data(), v2.data());
  r.pred.insert(r.pred.end(), p2.begin(), p2.end());
  r.volt.insert(r.volt.end(), v2.begin(), v2.end());
  r.state = net.get_state();
  req.order = d.order.data() + 20;
  req.count = 20;
  req.batch_size = 4;
  net.train_chunk(req, out);
  r.w_batch = net.get_weights();
  return r;
}

// Tests 16 images at round 5 in one call and in parts of 7 and 9 at offsets 0 and 7: the parts
// must draw what the one call does (each image by its index in the whole set).
std::string parts_match(Network& net, const Digits& d) {
  const int64_t n = 16, n_out = net.config().n_out(), n_in = net.config().n_in;
  std::vector<int32_t> p1(n), p2(n);
  std::vector<float> v1(static_cast<size_t>(n * n_out)), v2(v1.size());
  net.evaluate(d.images.data(), n, 5, p1.data(), v1.data());
  net.evaluate(d.images.data(), 7, 5, p2.data(), v2.data(), 0);
  net.evaluate(d.images.data() + 7 * n_in, 9, 5, p2.data() + 7, v2.data() + 7 * n_out, 7);
  if (p1 != p2 || v1 != v2) return "an evaluation in parts (offsets 0 and 7) differs from one call";
  return "";
}

std::string fmt(const char* f, double a, double b) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

// spike_count (segregated_step.h) against Poisson(rate): the frequencies of 0, 1 and 2 and the mean
// over n consecutive elements within 5 standard errors; neighbours (elements e and e + 1, which may
// share a Philox block) independent; every element its own word of its own block.
std::string check_spike_counts() {
  const philox::Stream s = seg::train_spike_stream(12345, 3, 77);
  const int64_t n = int64_t{1} << 18;
  const uint64_t e0 = 1000003;  // not a multiple of 64: groups straddle the range's ends
  for (const float rate : {0.003f, 0.05f, 0.2f, 0.7f, 3.0f, 25.0f}) {
    const double lam = rate;
    double f[3] = {0, 0, 0}, sum = 0, both = 0;
    int32_t prev = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t k = seg::spike_count(s, e0 + static_cast<uint64_t>(i), rate);
      if (k < 3) f[k] += 1;
      sum += k;
      if (i > 0 && k > 0 && prev > 0) both += 1;
      prev = k;
    }
    double p = std::exp(-lam);
    for (int k = 0; k < 3; ++k) {
      const double se = std::sqrt(p * (1 - p) / static_cast<double>(n));
      if (std::fabs(f[k] / static_cast<double>(n) - p) > 5 * se + 1e-12) {
        return fmt("rate %g: P(%g) off", lam, static_cast<double>(k));
      }
      p *= lam / (k + 1);
    }
    if (std::fabs(sum / static_cast<double>(n) - lam) > 5 * std::sqrt(lam / static_cast<double>(n))) {
      return fmt("rate %g: mean %g", lam, sum / static_cast<double>(n));
    }
    const double q = 1 - std::exp(-lam), pb = q * q;
    if (std::fabs(both / static_cast<double>(n - 1) - pb) > 5 * std::sqrt(pb * (1 - pb) / static_cast<double>(n)) + 1e-12) {
      return fmt("rate %g: neighbours both spike with frequency %g", lam, both / static_cast<double>(n - 1));
    }
  }
  std::vector<uint64_t> seen;
  for (uint64_t e = 0; e < 4096; ++e) seen.push_back(seg::spike_block(e) * 4 + ((e >> 4) & 3));
  std::sort(seen.begin(), seen.end());
  if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) return "two elements read the same word";
  return "";
}

// Online training of 784-500-10 on two threads: the pair's event lists and its copy of W0 are huge
// blocks, which a freed network leaves to the next (page_alloc). A network built on them, stale
// contents and all, must train what a network on fresh memory trains.
std::string check_kept_blocks() {
  seg::Config c = seg::preset(true);
  c.seed = 5;
  c.threads = 2;
  const Digits d = make_digits(6, c.n_in, 11);
  seg::TrainRequest req;
  req.images = d.images.data();
  req.labels = d.labels.data();
  req.n_images = d.n;
  req.order = d.order.data();
  req.count = d.n;
  auto train = [&](seg::Network& n) {
    seg::TrainResult out;
    n.train_chunk(req, out);
    return n.get_weights();
  };
  auto first = seg::make_cpu_network(c);
  const auto w_first = train(*first);
  c.seed = 6;  // (other weights, other spikes: the blocks it leaves hold other values)
  auto other = seg::make_cpu_network(c);
  train(*other);
  other.reset();
  c.seed = 5;
  auto again = seg::make_cpu_network(c);
  if (!same_bits(train(*again), w_first)) return "a network on a freed network's blocks trained other weights";
  return "";
}

}  // namespace

void check_segregated(Checker& ck) {
  ck.run("segregated spike counts are Poisson(rate), one word per element", check_spike_counts);
  ck.run("segregated cpu: a network on the blocks a freed one kept trains the same bits", check_kept_blocks);
  const Digits d = make_digits(40, 784, 7);
  const CudaInfo info = cuda_info();
  const bool cuda = info.unavailable.empty();
  if (!cuda) ck.note("segregated CUDA: skipped (" + info.unavailable + ")");
  for (const Case& cs : cases()) {
    Run a;
    ck.run("segregated cpu deterministic: " + cs.name, [&]() -> std::string {
      auto n1 = seg::make_cpu_network(cs.c);
      auto n2 = seg::make_cpu_network(cs.c);
      a = exercise(*n1, d);
      const Run b = exercise(*n2, d);
      if (!same_bits(a.w_one, b.w_one) || !same_bits(a.w_online, b.w_online) || !same_bits(a.w_batch, b.w_batch)) {
        return "weights differ between two runs";
      }
      if (a.pred != b.pred || a.volt != b.volt) return "test results differ between two runs";
      if (a.state != b.state) return "dynamic state differs between two runs";
      if (a.angle.size() != b.angle.size() || a.loss != b.loss) return "losses or angles differ between two runs";
      for (size_t i = 0; i < a.angle.size(); ++i) {
        if (!(a.angle[i] == b.angle[i] || (std::isnan(a.angle[i]) && std::isnan(b.angle[i])))) return "angles differ between two runs";
      }
      if (same_bits(a.w0, a.w_online)) return "training changed nothing";
      // The state format round trip (segregated_engine.h).
      n1->set_state(a.state);
      if (n1->get_state() != a.state) return "setState(getState()) changed the state";
      return parts_match(*n1, d);
    });
    if (!cuda) continue;
    ck.run("segregated cuda vs cpu: " + cs.name, [&]() -> std::string {
      auto g = seg::make_cuda_network(cs.c, 0);
      const Run b = exercise(*g, d);
      if (!same_bits(a.w0, b.w0)) return "initial weights differ";
      if (a.pred != b.pred) return "test predictions differ";
      float vmax = max_abs(a.volt), vdiff = 0;
      for (size_t i = 0; i < a.volt.size(); ++i) vdiff = std::max(vdiff, std::fabs(a.volt[i] - b.volt[i]));
      if (!(vdiff <= 1e-5f * vmax)) return fmt("voltages differ by %g (max |v| %g)", vdiff, vmax);
      // One whole example (forward phase, target phase, updates): 1e-5 relative, as the TS reference.
      const float w_one_max = max_diff(a.w_one, zero_like(a.w_one)), done = max_diff(a.w_one, b.w_one);
      if (!(done <= 1e-5f * w_one_max)) return fmt("weights after one example differ by %g (max |W| %g)", done, w_one_max);
      const float moved_online = max_diff(a.w0, a.w_online), moved_batch = max_diff(a.w0, a.w_batch);
      const float don = max_diff(a.w_online, b.w_online), dba = max_diff(a.w_batch, b.w_batch);
      if (!(don <= 1e-3f * moved_online)) return fmt("online weights differ by %g (training moved them %g)", don, moved_online);
      if (!(dba <= 1e-3f * moved_batch)) return fmt("batched weights differ by %g (training moved them %g)", dba, moved_batch);
      if (a.train_pred != b.train_pred) return "training predictions differ";
      // Angles: acos may differ by an ulp between libm and CUDA; 1e-3 degrees is far above that.
      if (a.angle.size() != b.angle.size()) return "angle counts differ";
      for (size_t i = 0; i < a.angle.size(); ++i) {
        const bool both_nan = std::isnan(a.angle[i]) && std::isnan(b.angle[i]);
        if (!both_nan && !(std::fabs(a.angle[i] - b.angle[i]) <= 1e-3f)) return fmt("angle differs: %g vs %g", a.angle[i], b.angle[i]);
      }
      for (size_t i = 0; i < a.loss.size(); ++i) {
        if (!(std::fabs(a.loss[i] - b.loss[i]) <= 1e-4f * std::max(std::fabs(a.loss[i]), 1e-6f))) return fmt("loss differs: %g vs %g", a.loss[i], b.loss[i]);
      }
      if (a.state.size() != b.state.size()) return "dynamic state sizes differ";
      const bool identical = vdiff == 0 && done == 0 && don == 0 && dba == 0 && a.state == b.state && a.loss == b.loss;
      if (identical) ck.note("  (bit-identical to the CPU)");
#if defined(DENDRITE_CUDA_EMULATOR)
      // Emulated, both engines run the same equations (segregated_step.h) in the same order on the
      // same host arithmetic: anything short of the same bits is a mismatch between them.
      if (!identical) return "the emulated CUDA network is not bit-identical to the CPU";
#endif
      // The state round trip on the device, and the CPU's state read by the CUDA engine.
      g->set_state(b.state);
      if (g->get_state() != b.state) return "setState(getState()) changed the state";
      g->set_state(a.state);
      if (g->get_state() != a.state) return "the CPU's state did not round-trip through the CUDA network";
      return parts_match(*g, d);
    });
  }
}

}  // namespace dendrite::test

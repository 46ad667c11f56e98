// The segregated network's backend-neutral driver (segregated_engine.h).
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

}  // namespace dendrite::seg

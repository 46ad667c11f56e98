// Elementwise maps, row / column sums and softmax cross-entropy on the CPU.
//
// Reductions accumulate in double over blocks whose boundaries depend only on the shape, and
// every output is reduced by one thread in a fixed order, so results do not depend on the
// thread count.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../common/error.h"
#include "kernels.h"
#include "parallel.h"
#include "simd.h"

namespace dendrite::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;
// Column block of row sums; rows longer than this are split into blocks summed in parallel.
constexpr int64_t kRowBlock = 4096;

// Stable logistic: exp of a non-positive argument only, so neither branch overflows.
inline float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

// s'(x) = s(x) * (1 - s(x)) = e / (1 + e)^2 with e = exp(-|x|): the function is even, and this
// form keeps full relative precision where 1 - s(x) would round to 0 (x > ~17).
inline float sigmoid_grad(float x) {
  const float e = std::exp(-std::fabs(x));
  const float d = 1.0f + e;
  return e / (d * d);
}

}  // namespace

DENDRITE_CLONES double sum_double8(const float* p, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += static_cast<double>(p[i + l]);
  for (int l = 0; i < n; ++i, ++l) acc[l] += static_cast<double>(p[i]);
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

void unary(UnaryOp op, int64_t n, const float* x, float* y, float scale, float shift, int threads) {
  // y may alias x: every element is read before its own output is written.
  switch (op) {
    case UnaryOp::Sigmoid:
      parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) { y[i] = sigmoid(x[i]); });
      break;
    case UnaryOp::SigmoidGrad:
      parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) { y[i] = sigmoid_grad(x[i]); });
      break;
    case UnaryOp::Relu:
      // NaN propagates (as in PyTorch): NaN > 0 is false but x != x keeps it.
      parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) {
        const float v = x[i];
        y[i] = (v > 0.0f || v != v) ? v : 0.0f;
      });
      break;
    case UnaryOp::ReluGrad:
      parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) { y[i] = x[i] > 0.0f ? 1.0f : 0.0f; });
      break;
    case UnaryOp::ScaleShift:
      parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) { y[i] = scale * x[i] + shift; });
      break;
    default:
      fail(ErrorKind::InvalidArgument, "unary: unknown operation " + std::to_string(static_cast<int>(op)));
  }
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx, int threads) {
  // dx may alias dy: each element is read before its own output is written. Both values are
  // loaded unconditionally so that the loop compiles to branch-free vector blends.
  parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) {
    const float g = dy[i];
    dx[i] = y[i] > 0.0f ? g : 0.0f;
  });
}

void row_sums(int64_t rows, int64_t cols, const float* a, float* out, int threads) {
  if (rows <= 0) return;
  if (cols <= kRowBlock) {
    parallel_for(rows * cols >= kParallelMin ? threads : 1, 0, rows, [&](int64_t r) { out[r] = static_cast<float>(sum_double8(a + r * cols, cols)); });
    return;
  }
  // Long rows: partial sums of fixed column blocks (in parallel), then each row adds its
  // blocks in order.
  const int64_t blocks = (cols + kRowBlock - 1) / kRowBlock;
  std::vector<double> partial(static_cast<size_t>(rows * blocks));
  parallel_for(threads, 0, rows * blocks, [&](int64_t t) {
    const int64_t r = t / blocks, b = t % blocks;
    const int64_t c0 = b * kRowBlock, c1 = std::min(cols, c0 + kRowBlock);
    partial[static_cast<size_t>(t)] = sum_double8(a + r * cols + c0, c1 - c0);
  });
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t b = 0; b < blocks; ++b) s += partial[static_cast<size_t>(r * blocks + b)];
    out[r] = static_cast<float>(s);
  }
}

void col_sums(int64_t rows, int64_t cols, const float* a, float* out, int threads) {
  if (cols <= 0) return;
  // Rows are split into `chunks` fixed row ranges (a function of the shape only); each chunk
  // accumulates its column sums in double, rows in order, and the chunks are then added in
  // order. Parallel over chunks and column blocks.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(64, rows / 256));
  const int64_t chunk_rows = (rows + chunks - 1) / chunks;
  constexpr int64_t kColBlock = 512;
  const int64_t col_blocks = (cols + kColBlock - 1) / kColBlock;
  std::vector<double> partial(static_cast<size_t>(chunks * cols), 0.0);
  parallel_for(rows * cols >= kParallelMin ? threads : 1, 0, chunks * col_blocks, [&](int64_t t) {
    const int64_t ch = t / col_blocks, cb = t % col_blocks;
    const int64_t r0 = ch * chunk_rows, r1 = std::min(rows, r0 + chunk_rows);
    const int64_t c0 = cb * kColBlock, c1 = std::min(cols, c0 + kColBlock);
    double* acc = partial.data() + ch * cols;
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = a + r * cols;
      for (int64_t c = c0; c < c1; ++c) acc[c] += static_cast<double>(row[c]);
    }
  });
  parallel_for(chunks * cols >= kParallelMin ? threads : 1, 0, cols, [&](int64_t c) {
    double s = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) s += partial[static_cast<size_t>(ch * cols + c)];
    out[c] = static_cast<float>(s);
  });
}

void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels, float* losses,
                           float* grad, int threads) {
  // Checked before the parallel loop: an exception cannot leave a parallel region.
  for (int64_t b = 0; b < batch; ++b) {
    if (labels[b] < 0 || labels[b] >= classes) {
      fail(ErrorKind::OutOfRange, "softmax_cross_entropy: labels[" + std::to_string(b) + "] = " +
                                      std::to_string(labels[b]) + " is outside [0, " + std::to_string(classes) + ")");
    }
  }
  const double inv_batch = 1.0 / static_cast<double>(batch);
  parallel_for(batch * classes >= kParallelMin ? threads : 1, 0, batch, [&](int64_t b) {
    const float* z = logits + b * classes;
    float* g = grad + b * classes;
    // log-sum-exp shifted by the maximum: lse = m + log(sum_j exp(z_j - m)), every exp <= 1.
    float m = z[0];
    for (int64_t j = 1; j < classes; ++j) m = std::max(m, z[j]);
    double sum = 0;
    for (int64_t j = 0; j < classes; ++j) sum += std::exp(static_cast<double>(z[j]) - m);
    const double log_sum = std::log(sum);
    const int32_t label = labels[b];
    // loss = lse - z_label
    losses[b] = static_cast<float>(log_sum + (static_cast<double>(m) - z[label]));
    // grad_j = (softmax_j - [j == label]) / batch, softmax_j = exp(z_j - lse)
    for (int64_t j = 0; j < classes; ++j) {
      const double p = std::exp(static_cast<double>(z[j]) - m - log_sum);
      g[j] = static_cast<float>((p - (j == label ? 1.0 : 0.0)) * inv_batch);
    }
  });
}

}  // namespace dendrite::cpu

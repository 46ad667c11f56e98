// Elementwise maps, row/column sums and softmax cross-entropy on the GPU.
#include <cstdint>

#include "cuda_check.cuh"
#include "device_util.cuh"
#include "kernels.cuh"
#include "reduce.cuh"

namespace dendrite::cuda {
namespace {

// expf (not __expf): accurate to a few ulp, so results stay within 1e-5 of the CPU backend.
__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

template <UnaryOp Op>
__global__ void unary_kernel(int64_t n, const float* x, float* y, float scale, float shift) {
  // x and y may alias (in place): no __restrict__.
  for (int64_t i = thread_index(); i < n; i += thread_count()) {
    const float v = x[i];
    float r;
    if (Op == UnaryOp::Sigmoid) {
      r = sigmoid(v);
    } else if (Op == UnaryOp::SigmoidGrad) {
      const float s = sigmoid(v);
      r = s * (1.0f - s);
    } else if (Op == UnaryOp::Relu) {
      r = v > 0.0f ? v : 0.0f;
    } else if (Op == UnaryOp::ReluGrad) {
      r = v > 0.0f ? 1.0f : 0.0f;
    } else {
      r = scale * v + shift;
    }
    y[i] = r;
  }
}

// dx may alias dy (in place): no __restrict__.
__global__ void relu_backward_kernel(int64_t n, const float* y, const float* dy, float* dx) {
  for (int64_t i = thread_index(); i < n; i += thread_count()) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// One warp per row (8 rows per block). losses[b] = log(sum_c exp(z_c - max)) - (z_label - max);
// grad[b, c] = (softmax(z)_c - [c == label]) / batch. Max and sums in a fixed shuffle order.
__global__ void softmax_ce_kernel(int64_t batch, int64_t classes, const float* __restrict__ logits,
                                  const int32_t* __restrict__ labels, float* __restrict__ losses,
                                  float* __restrict__ grad) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = thread_count() >> 5;
  const float batch_f = static_cast<float>(batch);
  for (int64_t b = thread_index() >> 5; b < batch; b += warps) {
    const float* z = logits + b * classes;
    float mx = -INFINITY;
    for (int64_t c = lane; c < classes; c += 32) mx = fmaxf(mx, z[c]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int64_t c = lane; c < classes; c += 32) sum += expf(z[c] - mx);
    sum = warp_sum(sum);
    const int32_t label = labels[b];
    const bool valid = label >= 0 && label < classes;  // the bindings check; never read outside the row
    if (lane == 0) losses[b] = valid ? logf(sum) - (z[label] - mx) : NAN;
    if (grad != nullptr) {
      float* g = grad + b * classes;
      for (int64_t c = lane; c < classes; c += 32) {
        const float p = expf(z[c] - mx) / sum;
        g[c] = (p - (c == label ? 1.0f : 0.0f)) / batch_f;
      }
    }
  }
}

}  // namespace

void unary(UnaryOp op, int64_t n, const float* x, float* y, float scale, float shift, cudaStream_t stream) {
  if (n <= 0) return;
  const unsigned grid = grid_for(n);
  switch (op) {
    case UnaryOp::Sigmoid:
      unary_kernel<UnaryOp::Sigmoid><<<grid, kBlock, 0, stream>>>(n, x, y, scale, shift);
      break;
    case UnaryOp::SigmoidGrad:
      unary_kernel<UnaryOp::SigmoidGrad><<<grid, kBlock, 0, stream>>>(n, x, y, scale, shift);
      break;
    case UnaryOp::Relu:
      unary_kernel<UnaryOp::Relu><<<grid, kBlock, 0, stream>>>(n, x, y, scale, shift);
      break;
    case UnaryOp::ReluGrad:
      unary_kernel<UnaryOp::ReluGrad><<<grid, kBlock, 0, stream>>>(n, x, y, scale, shift);
      break;
    case UnaryOp::ScaleShift:
      unary_kernel<UnaryOp::ScaleShift><<<grid, kBlock, 0, stream>>>(n, x, y, scale, shift);
      break;
  }
  check_launch("unary_kernel");
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx, cudaStream_t stream) {
  if (n <= 0) return;
  relu_backward_kernel<<<grid_for(n), kBlock, 0, stream>>>(n, y, dy, dx);
  check_launch("relu_backward_kernel");
}

void row_sums(int64_t rows, int64_t cols, const float* a, float* out, cudaStream_t stream) {
  if (rows <= 0) return;
  row_reduce_kernel<false><<<row_reduce_grid(rows), kBlock, 0, stream>>>(rows, cols, a, nullptr, 1.0f, 0.0f, out);
  check_launch("row_sums (row_reduce_kernel)");
}

void col_sums(int64_t rows, int64_t cols, const float* a, float* out, cudaStream_t stream) {
  if (cols <= 0) return;
  const dim3 block = col_reduce_block(cols);
  col_reduce_kernel<false><<<col_reduce_grid(cols, block), block, 0, stream>>>(rows, cols, a, nullptr, 1.0f, 0.0f,
                                                                               out);
  check_launch("col_sums (col_reduce_kernel)");
}

void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels, float* losses,
                           float* grad, cudaStream_t stream) {
  if (batch <= 0) return;
  softmax_ce_kernel<<<row_reduce_grid(batch), kBlock, 0, stream>>>(batch, classes, logits, labels, losses, grad);
  check_launch("softmax_ce_kernel");
}

}  // namespace dendrite::cuda

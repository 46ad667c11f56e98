// Batch normalisation over x[batch, channels, spatial] on the GPU, PyTorch semantics:
//   mean = sum x / N, var = sum (x - mean)^2 / N (biased, two passes), N = batch * spatial
//   invstd = 1 / sqrt(var + eps), y = (x - mean) * invstd * gamma + beta
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * var * N / (N - 1)   (unbiased)
// One block per channel; every sum is a fixed-order block reduction (no atomics).
#include <cstdint>

#include "cuda_check.cuh"
#include "device_util.cuh"
#include "kernels.cuh"

namespace dendrite::cuda {
namespace {

constexpr int kBnBlock = 512;

struct BnDims {
  int64_t batch, channels, spatial;
};

// Offset of the i-th element (i in [0, N)) of channel c.
__device__ __forceinline__ int64_t bn_offset(const BnDims& d, int64_t c, int64_t i) {
  const int64_t b = i / d.spatial, s = i - b * d.spatial;
  return (b * d.channels + c) * d.spatial + s;
}

__global__ void __launch_bounds__(kBnBlock)
    bn_forward_train_kernel(const BnDims d, float eps, float momentum, const float* __restrict__ x,
                            const float* __restrict__ gamma, const float* __restrict__ beta, float* __restrict__ y,
                            float* __restrict__ saved_mean, float* __restrict__ saved_invstd,
                            float* __restrict__ running_mean, float* __restrict__ running_var) {
  __shared__ float scratch[33];
  const int64_t n = d.batch * d.spatial;
  for (int64_t c = blockIdx.x; c < d.channels; c += gridDim.x) {
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += x[bn_offset(d, c, i)];
    const float mean = n > 0 ? block_sum(s, scratch) / static_cast<float>(n) : 0.0f;
    float q = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float t = x[bn_offset(d, c, i)] - mean;
      q = fmaf(t, t, q);
    }
    const float sq = n > 0 ? block_sum(q, scratch) : 0.0f;
    const float var = n > 0 ? sq / static_cast<float>(n) : 0.0f;
    const float invstd = 1.0f / sqrtf(var + eps);
    const float g = gamma[c], bt = beta[c];
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const int64_t o = bn_offset(d, c, i);
      y[o] = (x[o] - mean) * invstd * g + bt;
    }
    if (threadIdx.x == 0) {
      if (saved_mean != nullptr) saved_mean[c] = mean;
      if (saved_invstd != nullptr) saved_invstd[c] = invstd;
      // An empty batch carries no statistics: the running ones stay. With N == 1 the unbiased
      // variance is undefined (PyTorch refuses); the biased one (0) is used.
      if (n > 0 && running_mean != nullptr) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
      if (n > 0 && running_var != nullptr) {
        const float unbiased = n > 1 ? sq / static_cast<float>(n - 1) : var;
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
      }
    }
  }
}

__global__ void bn_forward_eval_kernel(const BnDims d, float eps, const float* __restrict__ x,
                                       const float* __restrict__ gamma, const float* __restrict__ beta,
                                       const float* __restrict__ running_mean, const float* __restrict__ running_var,
                                       float* __restrict__ y) {
  const int64_t total = d.batch * d.channels * d.spatial;
  for (int64_t i = thread_index(); i < total; i += thread_count()) {
    const int64_t c = (i / d.spatial) % d.channels;
    const float invstd = 1.0f / sqrtf(running_var[c] + eps);
    y[i] = (x[i] - running_mean[c]) * invstd * gamma[c] + beta[c];
  }
}

// xhat = (x - mean) * invstd; dbeta = sum dy; dgamma = sum dy * xhat;
// dx = gamma * invstd * (dy - dbeta / N - xhat * dgamma / N)
__global__ void __launch_bounds__(kBnBlock)
    bn_backward_kernel(const BnDims d, const float* __restrict__ x, const float* __restrict__ dy,
                       const float* __restrict__ gamma, const float* __restrict__ saved_mean,
                       const float* __restrict__ saved_invstd, float* __restrict__ dx, float* __restrict__ dgamma,
                       float* __restrict__ dbeta) {
  __shared__ float scratch[33];
  const int64_t n = d.batch * d.spatial;
  for (int64_t c = blockIdx.x; c < d.channels; c += gridDim.x) {
    const float mean = saved_mean[c], invstd = saved_invstd[c];
    float sd = 0.0f, sdx = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const int64_t o = bn_offset(d, c, i);
      const float g = dy[o];
      sd += g;
      sdx = fmaf(g, (x[o] - mean) * invstd, sdx);
    }
    const float sum_dy = block_sum(sd, scratch);
    const float sum_dy_xhat = block_sum(sdx, scratch);
    if (threadIdx.x == 0) {
      if (dbeta != nullptr) dbeta[c] = sum_dy;
      if (dgamma != nullptr) dgamma[c] = sum_dy_xhat;
    }
    if (dx != nullptr && n > 0) {
      const float nf = static_cast<float>(n);
      const float mean_dy = sum_dy / nf, mean_dy_xhat = sum_dy_xhat / nf;
      const float k = gamma[c] * invstd;
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const int64_t o = bn_offset(d, c, i);
        const float xhat = (x[o] - mean) * invstd;
        dx[o] = k * (dy[o] - mean_dy - xhat * mean_dy_xhat);
      }
    }
  }
}

}  // namespace

void batchnorm_forward_train(const BatchNormShape& s, const float* x, const float* gamma, const float* beta, float* y,
                             float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                             cudaStream_t stream) {
  if (s.channels <= 0) return;
  const BnDims d{s.batch, s.channels, s.spatial};
  bn_forward_train_kernel<<<grid_cap(s.channels), kBnBlock, 0, stream>>>(
      d, s.eps, s.momentum, x, gamma, beta, y, saved_mean, saved_invstd, running_mean, running_var);
  check_launch("bn_forward_train_kernel");
}

void batchnorm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y, cudaStream_t stream) {
  const int64_t total = s.batch * s.channels * s.spatial;
  if (total <= 0) return;
  const BnDims d{s.batch, s.channels, s.spatial};
  bn_forward_eval_kernel<<<grid_for(total), kBlock, 0, stream>>>(d, s.eps, x, gamma, beta, running_mean, running_var,
                                                                 y);
  check_launch("bn_forward_eval_kernel");
}

void batchnorm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* gamma,
                        const float* saved_mean, const float* saved_invstd, float* dx, float* dgamma, float* dbeta,
                        cudaStream_t stream) {
  if (s.channels <= 0) return;
  const BnDims d{s.batch, s.channels, s.spatial};
  bn_backward_kernel<<<grid_cap(s.channels), kBnBlock, 0, stream>>>(d, x, dy, gamma, saved_mean, saved_invstd, dx,
                                                                     dgamma, dbeta);
  check_launch("bn_backward_kernel");
}

}  // namespace dendrite::cuda

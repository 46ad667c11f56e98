// Random numbers on the GPU: grid-stride kernels over the Philox counter of each element,
// running the same code as the CPU (common/philox.h), so both give bit-identical values.
#include <algorithm>

#include "../common/philox.h"
#include "cuda_check.cuh"
#include "kernels.cuh"

namespace dendrite::cuda {
namespace {

constexpr int kThreads = 256;
// Enough blocks to fill any current GPU; larger draws loop in the grid-stride kernels.
constexpr unsigned kMaxBlocks = 8192;

unsigned grid_for(int64_t n) { return std::min(blocks_for(n, kThreads), kMaxBlocks); }

__global__ void uniform_kernel(philox::Stream s, int64_t n, float low, float high, float* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    out[i] = philox::uniform_at(s, static_cast<uint64_t>(i), low, high);
  }
}

__global__ void normal_kernel(philox::Stream s, int64_t n, float mean, float stddev, float* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    out[i] = philox::normal_at(s, static_cast<uint64_t>(i), mean, stddev);
  }
}

__global__ void bernoulli_kernel(philox::Stream s, int64_t n, const float* p, uint8_t* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    out[i] = philox::bernoulli_at(s, static_cast<uint64_t>(i), p[i]);
  }
}

__global__ void poisson_kernel(philox::Stream s, int64_t n, const float* rate, int32_t* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    out[i] = philox::poisson_at(s, static_cast<uint64_t>(i), rate[i]);
  }
}

__global__ void wald_kernel(philox::Stream s, int64_t n, float mean, float shape, float* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    out[i] = philox::wald_at(s, static_cast<uint64_t>(i), mean, shape);
  }
}

}  // namespace

void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out, cudaStream_t stream) {
  if (n <= 0) return;
  uniform_kernel<<<grid_for(n), kThreads, 0, stream>>>(philox::make_stream(r), n, low, high, out);
  check_launch("random_uniform");
}

void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out, cudaStream_t stream) {
  if (n <= 0) return;
  normal_kernel<<<grid_for(n), kThreads, 0, stream>>>(philox::make_stream(r), n, mean, stddev, out);
  check_launch("random_normal");
}

void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out, cudaStream_t stream) {
  if (n <= 0) return;
  bernoulli_kernel<<<grid_for(n), kThreads, 0, stream>>>(philox::make_stream(r), n, p, out);
  check_launch("random_bernoulli");
}

void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out, cudaStream_t stream) {
  if (n <= 0) return;
  poisson_kernel<<<grid_for(n), kThreads, 0, stream>>>(philox::make_stream(r), n, rate, out);
  check_launch("random_poisson");
}

void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out, cudaStream_t stream) {
  if (n <= 0) return;
  wald_kernel<<<grid_for(n), kThreads, 0, stream>>>(philox::make_stream(r), n, mean, shape, out);
  check_launch("random_wald");
}

}  // namespace dendrite::cuda

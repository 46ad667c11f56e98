// The tiled SGEMM behind cuda::gemm, exposed to the other CUDA kernels (conv2d) in its batched
// form: `count` independent GEMMs of the same shape whose operands sit `stride_*` floats apart
// (stride 0 shares an operand between all of them).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../common/shapes.h"

namespace dendrite::cuda {

struct GemmBatch {
  int64_t count = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

void gemm_batched(const GemmShape& g, const float* a, const float* b, float* c, const GemmBatch& batch,
                  cudaStream_t stream);

}  // namespace dendrite::cuda

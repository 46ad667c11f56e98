// CUDA kernels behind CudaBackend. Every function queues its work on `stream`; pointers are
// device pointers. Same semantics as the CPU kernels (native/cpu/kernels.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../common/shapes.h"

namespace dendrite::cuda {

// gemm.cu
void gemm(const GemmShape& g, const float* a, const float* b, float* c, cudaStream_t stream);
void gemv(bool trans, int64_t rows, int64_t cols, float alpha, const float* a, const float* x, float beta, float* y,
          cudaStream_t stream);
void ger(int64_t rows, int64_t cols, float alpha, const float* x, const float* y, float* a, cudaStream_t stream);

// elementwise.cu
void unary(UnaryOp op, int64_t n, const float* x, float* y, float scale, float shift, cudaStream_t stream);
void relu_backward(int64_t n, const float* y, const float* dy, float* dx, cudaStream_t stream);
void row_sums(int64_t rows, int64_t cols, const float* a, float* out, cudaStream_t stream);
void col_sums(int64_t rows, int64_t cols, const float* a, float* out, cudaStream_t stream);
void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels, float* losses,
                           float* grad, cudaStream_t stream);

// conv.cu (conv2d uses `workspace` of conv2d_workspace_floats(s) floats)
size_t conv2d_workspace_floats(const Conv2dShape& s);
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y,
                    float* workspace, cudaStream_t stream);
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, float* workspace, cudaStream_t stream);
void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, cudaStream_t stream);
void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx,
                         cudaStream_t stream);

// batchnorm.cu
void batchnorm_forward_train(const BatchNormShape& s, const float* x, const float* gamma, const float* beta, float* y,
                             float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                             cudaStream_t stream);
void batchnorm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y, cudaStream_t stream);
void batchnorm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* gamma,
                        const float* saved_mean, const float* saved_invstd, float* dx, float* dgamma, float* dbeta,
                        cudaStream_t stream);

// optim.cu
void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity,
                cudaStream_t stream);
void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v,
                 cudaStream_t stream);

// random.cu
void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out, cudaStream_t stream);
void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out, cudaStream_t stream);
void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out, cudaStream_t stream);
void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out, cudaStream_t stream);
void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out, cudaStream_t stream);

}  // namespace dendrite::cuda

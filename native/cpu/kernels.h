// CPU kernels behind CpuBackend. Each takes the number of threads to use (a region of the thread
// pool, parallel.h); results do not depend on it (every reduction has a fixed order).
#pragma once

#include <cstdint>

#include "../common/shapes.h"

namespace dendrite::philox {
struct Stream;
}

namespace dendrite::cpu {

// gemm.cpp
void gemm(const GemmShape& g, const float* a, const float* b, float* c, int threads);
void gemv(bool trans, int64_t rows, int64_t cols, float alpha, const float* a, const float* x, float beta, float* y,
          int threads);
void ger(int64_t rows, int64_t cols, float alpha, const float* x, const float* y, float* a, int threads);

// The depth of gemm's K blocks for a product of depth k: each output element is summed over
// k = 0, 1, ... in blocks of this size (one FMA chain per block from zero), and the blocks'
// sums are added in order (C = block_j + C). Kernels that must match gemm bit for bit use it.
int64_t gemm_k_block(int64_t k);

// An implicit B operand: instead of reading a stored k x n matrix, the GEMM asks `pack` for the
// panels its micro-kernel needs (convolution without an im2col matrix, conv.cpp).
struct BPanels {
  // bp[p * nr + c] = B[p0 + p][j0 + c] for p < kc, c < w; bp[p * nr + c] = 0 for c in [w, nr).
  void (*pack)(const void* ctx, int64_t p0, int64_t kc, int64_t j0, int64_t w, int64_t nr, float* bp);
  const void* ctx;
};
// C = alpha * op(A) * B + beta * C with B given by panels (g.trans_b and g.ldb are ignored).
// Same blocking and summation order as gemm(), so the result does not depend on `threads`.
void gemm_implicit_b(const GemmShape& g, const float* a, const BPanels& b, float* c, int threads);

// elementwise.cpp
// The sum of p[0..n) in double over 8 interleaved accumulators combined pairwise: a fixed order
// for a given n (the same bits on every instruction set), short dependency chains.
double sum_double8(const float* p, int64_t n);
void unary(UnaryOp op, int64_t n, const float* x, float* y, float scale, float shift, int threads);
void relu_backward(int64_t n, const float* y, const float* dy, float* dx, int threads);
void row_sums(int64_t rows, int64_t cols, const float* a, float* out, int threads);
void col_sums(int64_t rows, int64_t cols, const float* a, float* out, int threads);
void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels, float* losses,
                           float* grad, int threads);

// conv.cpp
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y, int threads);
void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int threads);
void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax, int threads);
void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx, int threads);

// batchnorm.cpp
// With relu, y = relu(batchnorm(x)) (unary Relu's semantics) in the same pass.
void batchnorm_forward_train(const BatchNormShape& s, const float* x, const float* gamma, const float* beta, float* y,
                             float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                             int threads, bool relu = false);
void batchnorm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y, int threads);
void batchnorm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* gamma,
                        const float* saved_mean, const float* saved_invstd, float* dx, float* dgamma, float* dbeta,
                        int threads);

// optim.cpp
void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity, int threads);
void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v, int threads);

// random.cpp
// out[i] = philox::uniform_at(s, i0 + i, low, high) for i < n (vectorised where the CPU allows).
void uniform_run(const philox::Stream& s, uint64_t i0, int64_t n, float low, float high, float* out);
void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out, int threads);
void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out, int threads);
void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out, int threads);
void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out, int threads);
void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out, int threads);

// team.cpp: the threads a parallel region asked to use `requested` gets now: fewer when other
// processes keep cores busy (a team larger than the free cores waits at every barrier for
// descheduled threads). DENDRITE_ADAPTIVE_THREADS=0 turns this off. Results do not depend on it.
int team_size(int requested);
// The same for threads that hand work to each other at every step, far more often than a time
// slice (the segregated network's paired online training): cut by any other runnable task, niced
// ones included, since a niced task that gets a core for its slice stalls the team mate waiting
// on that core's thread.
int team_size_alone(int requested);
// The cut team_size applies now: the free cores, or 0 when it cuts nothing.
int team_limit();

// cpu_info.cpp: the best SIMD instruction set of this processor ("avx512", "avx2", ...).
const char* simd_level();
// The instruction set the kernels use: the best of this processor, capped by DENDRITE_CPU_SIMD
// ("avx512", "avx2" or "scalar"; read at every call) so that every kernel family can be
// exercised on one machine. Avx2 means AVX2 with FMA.
enum class Isa { Scalar, Avx2, Avx512 };
Isa active_isa();

}  // namespace dendrite::cpu

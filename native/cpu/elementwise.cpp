// PLACEHOLDER: replaced by the real kernels.
#include "kernels.h"
#include "../common/error.h"

namespace dendrite::cpu {

void unary(UnaryOp op, int64_t n, const float* x, float* y, float scale, float shift, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void row_sums(int64_t rows, int64_t cols, const float* a, float* out, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void col_sums(int64_t rows, int64_t cols, const float* a, float* out, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels, float* losses,
                           float* grad, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cpu

// PLACEHOLDER: replaced by the real kernels.
#include "kernels.h"
#include "../common/error.h"

namespace dendrite::cpu {

void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out, int threads) {
  fail(ErrorKind::Internal, "not implemented yet");
}

}  // namespace dendrite::cpu

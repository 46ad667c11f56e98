// Random numbers on the CPU: every element is computed independently from its Philox counter
// (common/philox.h, the same code the CUDA kernels run), so the thread count and the
// partition of the work never change a value.
#include "../common/philox.h"
#include "kernels.h"

namespace dendrite::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 4096;

template <class F>
void for_each_element(int64_t n, int threads, F&& f) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) f(i);
  (void)threads;
}

}  // namespace

void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  for_each_element(n, threads, [&](int64_t i) { out[i] = philox::uniform_at(s, static_cast<uint64_t>(i), low, high); });
}

void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  for_each_element(n, threads,
                   [&](int64_t i) { out[i] = philox::normal_at(s, static_cast<uint64_t>(i), mean, stddev); });
}

void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  for_each_element(n, threads, [&](int64_t i) { out[i] = philox::bernoulli_at(s, static_cast<uint64_t>(i), p[i]); });
}

void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  // The cost per element depends on its rate: hand out chunks dynamically (values do not change).
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1024) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = philox::poisson_at(s, static_cast<uint64_t>(i), rate[i]);
  (void)threads;
}

void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  for_each_element(n, threads,
                   [&](int64_t i) { out[i] = philox::wald_at(s, static_cast<uint64_t>(i), mean, shape); });
}

}  // namespace dendrite::cpu

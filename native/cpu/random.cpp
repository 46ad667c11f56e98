// Random numbers on the CPU: every element is computed independently from its Philox counter
// (common/philox.h, the same code the CUDA kernels run), so the thread count and the
// partition of the work never change a value.
#include "../common/philox.h"
#include "kernels.h"
#include "parallel.h"

namespace dendrite::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 4096;

template <class F>
void for_each_element(int64_t n, int threads, F&& f) {
  parallel_for(n >= kParallelMin ? threads : 1, 0, n, [&](int64_t i) { f(i); });
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
  parallel(n >= kParallelMin ? threads : 1, [&](Team& team) {
    team.for_dynamic(0, n, 1024, [&](int64_t i) { out[i] = philox::poisson_at(s, static_cast<uint64_t>(i), rate[i]); });
  });
}

void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out, int threads) {
  const philox::Stream s = philox::make_stream(r);
  for_each_element(n, threads,
                   [&](int64_t i) { out[i] = philox::wald_at(s, static_cast<uint64_t>(i), mean, shape); });
}

}  // namespace dendrite::cpu

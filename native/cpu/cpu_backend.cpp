// The CPU backend: host memory, the multi-threaded kernels of kernels.h.
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "../common/backend.h"
#include "../common/error.h"
#include "kernels.h"
#include "pages.h"

namespace dendrite {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads < 1 ? 1 : threads) {}

  std::string name() const override { return "cpu"; }
  bool is_host() const override { return true; }

  // Arrays of 1 MiB and more on huge pages, from pages.h (building a 784-500-10 MLP, its weights,
  // gradients and Adam moments, took 33 ms here on 4 KiB pages, most of it page faults; 11 ms so);
  // their sizes are kept for release(). The rest 64-byte aligned, which suits every SIMD width we use.
  void* allocate(size_t bytes) override {
    if (bytes >= cpu::kHugeFrom) {
      try {
        std::lock_guard<std::mutex> lock(large_mu_);
        large_.reserve(large_.size() + 1);  // first: nothing throws once the block is taken
        void* p = cpu::page_alloc(bytes);
        large_.push_back({p, bytes});
        return p;
      } catch (const std::bad_alloc&) {
        fail(ErrorKind::OutOfMemory, "cpu: cannot allocate " + std::to_string(bytes) + " bytes");
      }
    }
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == nullptr) fail(ErrorKind::OutOfMemory, "cpu: cannot allocate " + std::to_string(bytes) + " bytes");
    return p;
  }
  void release(void* ptr) noexcept override {
    {
      std::lock_guard<std::mutex> lock(large_mu_);
      for (auto& block : large_) {
        if (block.first == ptr) {
          cpu::page_free(ptr, block.second);
          block = large_.back();
          large_.pop_back();
          return;
        }
      }
    }
    std::free(ptr);
  }
  // memcpy must not see a null pointer even for zero bytes (empty tensors may have none).
  void to_device(void* dst, const void* src, size_t bytes) override {
    if (bytes != 0) std::memcpy(dst, src, bytes);
  }
  void to_host(void* dst, const void* src, size_t bytes) override {
    if (bytes != 0) std::memcpy(dst, src, bytes);
  }

  void gemm(const GemmShape& g, const float* a, const float* b, float* c) override {
    cpu::gemm(g, a, b, c, team());
  }
  void gemv(bool trans, int64_t rows, int64_t cols, float alpha, const float* a, const float* x, float beta,
            float* y) override {
    cpu::gemv(trans, rows, cols, alpha, a, x, beta, y, team());
  }
  void ger(int64_t rows, int64_t cols, float alpha, const float* x, const float* y, float* a) override {
    cpu::ger(rows, cols, alpha, x, y, a, team());
  }
  void unary(UnaryOp op, int64_t n, const float* x, float* y, float scale, float shift) override {
    cpu::unary(op, n, x, y, scale, shift, team());
  }
  void relu_backward(int64_t n, const float* y, const float* dy, float* dx) override {
    cpu::relu_backward(n, y, dy, dx, team());
  }
  void row_sums(int64_t rows, int64_t cols, const float* a, float* out) override {
    cpu::row_sums(rows, cols, a, out, team());
  }
  void col_sums(int64_t rows, int64_t cols, const float* a, float* out) override {
    cpu::col_sums(rows, cols, a, out, team());
  }
  void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels,
                             float* losses, float* grad) override {
    cpu::softmax_cross_entropy(batch, classes, logits, labels, losses, grad, team());
  }
  void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y) override {
    cpu::conv2d_forward(s, x, w, bias, y, team());
  }
  void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* db) override {
    cpu::conv2d_backward(s, x, w, dy, dx, dw, db, team());
  }
  void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) override {
    cpu::maxpool2x2_forward(s, x, y, argmax, team());
  }
  void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx) override {
    cpu::maxpool2x2_backward(s, dy, argmax, dx, team());
  }
  void batchnorm_forward_train(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                               float* y, float* saved_mean, float* saved_invstd, float* running_mean,
                               float* running_var) override {
    cpu::batchnorm_forward_train(s, x, gamma, beta, y, saved_mean, saved_invstd, running_mean, running_var,
                                 team());
  }
  void batchnorm_relu_forward_train(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                                    float* y, float* saved_mean, float* saved_invstd, float* running_mean,
                                    float* running_var) override {
    cpu::batchnorm_forward_train(s, x, gamma, beta, y, saved_mean, saved_invstd, running_mean, running_var,
                                 team(), true);
  }
  void batchnorm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, float* y) override {
    cpu::batchnorm_forward_eval(s, x, gamma, beta, running_mean, running_var, y, team());
  }
  void batchnorm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* gamma,
                          const float* saved_mean, const float* saved_invstd, float* dx, float* dgamma,
                          float* dbeta) override {
    cpu::batchnorm_backward(s, x, dy, gamma, saved_mean, saved_invstd, dx, dgamma, dbeta, team());
  }
  void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity) override {
    cpu::sgd_update(n, p, param, grad, velocity, team());
  }
  void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v) override {
    cpu::adam_update(n, p, param, grad, m, v, team());
  }
  void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out) override {
    cpu::random_uniform(r, n, low, high, out, team());
  }
  void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out) override {
    cpu::random_normal(r, n, mean, stddev, out, team());
  }
  void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out) override {
    cpu::random_bernoulli(r, n, p, out, team());
  }
  void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out) override {
    cpu::random_poisson(r, n, rate, out, team());
  }
  void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out) override {
    cpu::random_wald(r, n, mean, shape, out, team());
  }

 private:
  // The team for this call: the backend's threads, fewer while other processes use cores (team.cpp).
  int team() const { return cpu::team_size(threads_); }
  int threads_;
  std::mutex large_mu_;
  std::vector<std::pair<void*, size_t>> large_;  // the blocks of page_alloc, with their sizes
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace dendrite

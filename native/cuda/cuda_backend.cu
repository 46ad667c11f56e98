// The CUDA backend: device memory, one stream per backend object, kernels from kernels.cuh.
// Each kernel call waits for its stream, so results are complete when it returns.
#include <string>

#include "../common/backend.h"
#include "../common/devices.h"
#include "cuda_check.cuh"
#include "kernels.cuh"

namespace dendrite {
namespace {

using cuda::check;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index) : index_(index) {
    check(cudaSetDevice(index_), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~CudaBackend() override { cudaStreamDestroy(stream_); }

  std::string name() const override { return "cuda:" + std::to_string(index_); }
  bool is_host() const override { return false; }

  void* allocate(size_t bytes) override {
    activate();
    void* p = nullptr;
    check(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc");
    return p;
  }
  void release(void* ptr) noexcept override { cudaFree(ptr); }
  void to_device(void* dst, const void* src, size_t bytes) override {
    activate();
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "copy to device");
    sync();
  }
  void to_host(void* dst, const void* src, size_t bytes) override {
    activate();
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "copy to host");
    sync();
  }

  void gemm(const GemmShape& g, const float* a, const float* b, float* c) override {
    run([&] { cuda::gemm(g, a, b, c, stream_); });
  }
  void gemv(bool trans, int64_t rows, int64_t cols, float alpha, const float* a, const float* x, float beta,
            float* y) override {
    run([&] { cuda::gemv(trans, rows, cols, alpha, a, x, beta, y, stream_); });
  }
  void ger(int64_t rows, int64_t cols, float alpha, const float* x, const float* y, float* a) override {
    run([&] { cuda::ger(rows, cols, alpha, x, y, a, stream_); });
  }
  void unary(UnaryOp op, int64_t n, const float* x, float* y, float scale, float shift) override {
    run([&] { cuda::unary(op, n, x, y, scale, shift, stream_); });
  }
  void relu_backward(int64_t n, const float* y, const float* dy, float* dx) override {
    run([&] { cuda::relu_backward(n, y, dy, dx, stream_); });
  }
  void row_sums(int64_t rows, int64_t cols, const float* a, float* out) override {
    run([&] { cuda::row_sums(rows, cols, a, out, stream_); });
  }
  void col_sums(int64_t rows, int64_t cols, const float* a, float* out) override {
    run([&] { cuda::col_sums(rows, cols, a, out, stream_); });
  }
  void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels,
                             float* losses, float* grad) override {
    run([&] { cuda::softmax_cross_entropy(batch, classes, logits, labels, losses, grad, stream_); });
  }
  void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y) override {
    Workspace ws(*this, cuda::conv2d_workspace_floats(s));
    run([&] { cuda::conv2d_forward(s, x, w, bias, y, ws.data, stream_); });
  }
  void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* db) override {
    Workspace ws(*this, cuda::conv2d_workspace_floats(s));
    run([&] { cuda::conv2d_backward(s, x, w, dy, dx, dw, db, ws.data, stream_); });
  }
  void maxpool2x2_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) override {
    run([&] { cuda::maxpool2x2_forward(s, x, y, argmax, stream_); });
  }
  void maxpool2x2_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx) override {
    run([&] { cuda::maxpool2x2_backward(s, dy, argmax, dx, stream_); });
  }
  void batchnorm_forward_train(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                               float* y, float* saved_mean, float* saved_invstd, float* running_mean,
                               float* running_var) override {
    run([&] {
      cuda::batchnorm_forward_train(s, x, gamma, beta, y, saved_mean, saved_invstd, running_mean, running_var,
                                    stream_);
    });
  }
  void batchnorm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, float* y) override {
    run([&] { cuda::batchnorm_forward_eval(s, x, gamma, beta, running_mean, running_var, y, stream_); });
  }
  void batchnorm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* gamma,
                          const float* saved_mean, const float* saved_invstd, float* dx, float* dgamma,
                          float* dbeta) override {
    run([&] { cuda::batchnorm_backward(s, x, dy, gamma, saved_mean, saved_invstd, dx, dgamma, dbeta, stream_); });
  }
  void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* velocity) override {
    run([&] { cuda::sgd_update(n, p, param, grad, velocity, stream_); });
  }
  void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m, float* v) override {
    run([&] { cuda::adam_update(n, p, param, grad, m, v, stream_); });
  }
  void random_uniform(const RngStream& r, int64_t n, float low, float high, float* out) override {
    run([&] { cuda::random_uniform(r, n, low, high, out, stream_); });
  }
  void random_normal(const RngStream& r, int64_t n, float mean, float stddev, float* out) override {
    run([&] { cuda::random_normal(r, n, mean, stddev, out, stream_); });
  }
  void random_bernoulli(const RngStream& r, int64_t n, const float* p, uint8_t* out) override {
    run([&] { cuda::random_bernoulli(r, n, p, out, stream_); });
  }
  void random_poisson(const RngStream& r, int64_t n, const float* rate, int32_t* out) override {
    run([&] { cuda::random_poisson(r, n, rate, out, stream_); });
  }
  void random_wald(const RngStream& r, int64_t n, float mean, float shape, float* out) override {
    run([&] { cuda::random_wald(r, n, mean, shape, out, stream_); });
  }

 private:
  // Device scratch memory for one call.
  struct Workspace {
    Workspace(CudaBackend& b, size_t floats)
        : backend(b), data(floats ? static_cast<float*>(b.allocate(floats * sizeof(float))) : nullptr) {}
    ~Workspace() {
      if (data) backend.release(data);
    }
    CudaBackend& backend;
    float* data;
  };

  // Calls may arrive on any worker thread: make this backend's device current first.
  void activate() { check(cudaSetDevice(index_), "cudaSetDevice"); }
  void sync() { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }
  template <class F>
  void run(F&& launch) {
    activate();
    launch();
    sync();
  }

  int index_;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(int index) {
  CudaInfo info = cuda_info();
  if (!info.unavailable.empty()) fail(ErrorKind::DeviceUnavailable, info.unavailable);
  if (index < 0 || index >= static_cast<int>(info.devices.size())) {
    fail(ErrorKind::DeviceUnavailable, "no CUDA device " + std::to_string(index) + " (there are " +
                                           std::to_string(info.devices.size()) + ")");
  }
  return std::make_unique<CudaBackend>(index);
}

}  // namespace dendrite

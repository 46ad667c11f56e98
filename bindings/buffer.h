// Native memory owned by an asynchronous call (worker.h): the copies of its inputs and its outputs.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

namespace dendrite::bindings {

// Native memory a job owns (shared by the job's lambdas). Never null when allocated: an empty
// buffer still has a valid (unread) data pointer, as kernels expect.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  // n zeros.
  static Buffer zeros(size_t n) { return Buffer(new T[n == 0 ? 1 : n](), n); }
  // A copy of data[0..n).
  static Buffer copy(const T* data, size_t n) {
    Buffer b(new T[n == 0 ? 1 : n], n);
    if (n > 0) std::memcpy(b.data(), data, n * sizeof(T));
    return b;
  }
  // n elements, uninitialised: the caller fills every one.
  static Buffer uninitialized(size_t n) { return Buffer(new T[n == 0 ? 1 : n], n); }

  T* data() const { return p_.get(); }
  size_t size() const { return n_; }
  explicit operator bool() const { return p_ != nullptr; }
  T& operator[](size_t i) const { return p_[i]; }
  const std::shared_ptr<T[]>& shared() const { return p_; }

 private:
  Buffer(T* p, size_t n) : p_(p), n_(n) {}
  std::shared_ptr<T[]> p_;
  size_t n_ = 0;
};

}  // namespace dendrite::bindings

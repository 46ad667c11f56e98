// Runs kernels of any backend over host arrays: on the CPU the host pointers are used as they
// are, on a GPU inputs are copied in and outputs copied back by finish().
#pragma once

#include <cstring>
#include <vector>

#include "backend.h"

namespace dendrite {

class HostStaging {
 public:
  explicit HostStaging(Backend& backend) : backend_(backend) {}
  HostStaging(const HostStaging&) = delete;
  HostStaging& operator=(const HostStaging&) = delete;
  ~HostStaging() {
    for (void* p : owned_) backend_.release(p);
  }

  // A backend pointer holding the values of host[0..n).
  template <class T>
  const T* in(const T* host, size_t n) {
    if (host == nullptr || backend_.is_host()) return host;
    T* dev = alloc<T>(n);
    backend_.to_device(dev, host, n * sizeof(T));
    return dev;
  }

  // A backend pointer whose final contents finish() copies into host[0..n).
  template <class T>
  T* out(T* host, size_t n) {
    if (host == nullptr || backend_.is_host()) return host;
    T* dev = alloc<T>(n);
    copy_back_.push_back({host, dev, n * sizeof(T)});
    return dev;
  }

  // Both: read, updated in place, copied back.
  template <class T>
  T* inout(T* host, size_t n) {
    if (host == nullptr || backend_.is_host()) return host;
    T* dev = const_cast<T*>(in<T>(host, n));
    copy_back_.push_back({host, dev, n * sizeof(T)});
    return dev;
  }

  // Backend scratch memory, freed with this object.
  template <class T>
  T* scratch(size_t n) {
    return alloc<T>(n);
  }

  void finish() {
    for (const auto& c : copy_back_) backend_.to_host(c.host, c.dev, c.bytes);
    copy_back_.clear();
  }

 private:
  template <class T>
  T* alloc(size_t n) {
    void* p = backend_.allocate(n == 0 ? sizeof(T) : n * sizeof(T));
    owned_.push_back(p);
    return static_cast<T*>(p);
  }

  struct CopyBack {
    void* host;
    const void* dev;
    size_t bytes;
  };
  Backend& backend_;
  std::vector<void*> owned_;
  std::vector<CopyBack> copy_back_;
};

}  // namespace dendrite

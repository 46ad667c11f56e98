// Turns CUDA runtime errors into dendrite::Error.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "../common/error.h"

namespace dendrite::cuda {

inline void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  const ErrorKind kind = status == cudaErrorMemoryAllocation ? ErrorKind::OutOfMemory : ErrorKind::Internal;
  fail(kind, std::string("cuda: ") + what + ": " + cudaGetErrorString(status));
}

// Checks the launch of the kernel just queued.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// Blocks until n items fit a 1-D launch of `threads` per block.
inline unsigned blocks_for(int64_t n, int threads) {
  return static_cast<unsigned>((n + threads - 1) / threads);
}

}  // namespace dendrite::cuda

// The kernel checks, each runnable on the CPU backend (against the reference loops) or on CUDA
// (against the CPU backend); see Mode in harness.h.
#pragma once

#include "harness.h"

namespace dendrite::test {

// `device`: the tested backend is a GPU, so also run the larger shapes that exercise its tiling,
// grid-stride loops and workspace chunking.
void check_linalg(Checker& ck, const Mode& mode, bool device);
void check_elementwise(Checker& ck, const Mode& mode, bool device);
void check_conv_pool(Checker& ck, const Mode& mode, bool device);
void check_batchnorm(Checker& ck, const Mode& mode, bool device);
void check_optim(Checker& ck, const Mode& mode, bool device);
void check_empty(Checker& ck, const Mode& mode);

// Random numbers: on the CPU, identical results for 1 and 2 threads, slices of a stream that
// match the whole, and sanity of the distributions; on CUDA, bit-identical to the CPU.
void check_random_cpu(Checker& ck);
void check_random_cuda(Checker& ck, Backend& cuda, Backend& cpu);

// The CPU kernels' thread pool: loops, barriers, nested and concurrent regions.
void check_parallel(Checker& ck);

// The segregated-dendrite network: CPU determinism; CUDA against the CPU when a device exists.
void check_segregated(Checker& ck);

}  // namespace dendrite::test

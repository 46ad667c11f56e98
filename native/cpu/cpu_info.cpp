#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "kernels.h"

namespace dendrite::cpu {

const char* simd_level() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
  return "sse2";
#elif defined(__aarch64__)
  return "neon";
#else
  return "scalar";
#endif
}

Isa active_isa() {
#if defined(__x86_64__)
  static const Isa hw = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Scalar;
  }();
  Isa cap = Isa::Avx512;
  if (const char* env = std::getenv("DENDRITE_CPU_SIMD")) {
    if (std::strcmp(env, "scalar") == 0) cap = Isa::Scalar;
    else if (std::strcmp(env, "avx2") == 0) cap = Isa::Avx2;
  }
  return std::min(cap, hw);
#else
  return Isa::Scalar;
#endif
}

}  // namespace dendrite::cpu

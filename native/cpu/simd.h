// Shared by the CPU kernel files that have per-instruction-set paths (AVX-512 / AVX2 intrinsics
// or compiler clones beside portable loops), which must all give the same bits.
#pragma once

// Never contract a * b + c into an FMA: the AVX-512 paths (whose targets have FMA) would then
// round differently from the portable ones and from the references.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

// DENDRITE_X86: x86-64 intrinsics with per-function target attributes are available.
#if defined(__x86_64__) && defined(__GNUC__)
#define DENDRITE_X86 1
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics fill unused operands with a self-initialised _mm512_undefined_ps(),
// which -W(maybe-)uninitialized reports at every inlined use; the value is never read.
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#else
#define DENDRITE_X86 0
#endif

// Elementwise loops compiled for AVX-512, AVX2 and the baseline; GCC picks one at load time.
#if DENDRITE_X86 && !defined(__clang__)
#define DENDRITE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DENDRITE_CLONES
#endif

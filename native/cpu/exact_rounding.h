// Included by a source file whose SIMD code must round exactly as its portable code: the compiler
// may then not contract a * b + c into an FMA anywhere in the file (a clone that did would round
// differently), and GCC 12's AVX-512 intrinsics may use their undefined-vector idiom without
// -Wmaybe-uninitialized. Include it after the other headers.
#pragma once

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

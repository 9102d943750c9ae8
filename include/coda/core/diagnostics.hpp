// Compiler diagnostics the library has to silence, each for a stated reason.
#pragma once

// GCC 12 reports -Wmaybe-uninitialized inside Eigen's AVX-512 reductions and products of double
// (the undefined upper half of _mm512_extractf64x4_pd) and -Wuninitialized in their max/min
// (the undefined pass-through operand of _mm512_max_ps), false positives (GCC bug 105593). GCC
// checks the warning's state where each inlined function was defined, so a function whose Eigen
// expressions reduce is wrapped in these two macros.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#define CODA_BEGIN_EIGEN_REDUCTIONS _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"") \
  _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")
#define CODA_END_EIGEN_REDUCTIONS _Pragma("GCC diagnostic pop")
#else
#define CODA_BEGIN_EIGEN_REDUCTIONS
#define CODA_END_EIGEN_REDUCTIONS
#endif

// The machine's single-thread fused multiply-add peak, measured: independent FMA chains on the
// widest float registers xsimd targets, no memory.
#pragma once

#include <chrono>
#include <xsimd/xsimd.hpp>

namespace coda::bench {

inline double measure_fma_peak_gflops() {
  using batch = xsimd::batch<float>;
  // Enough chains to hide the FMA latency (4 cycles x 2 pipes on current x86 cores), and few
  // enough to stay in registers with the two operands: with 16 vector registers (x86 without
  // AVX-512) 16 chains spilled three to the stack and measured a peak below the GEMM's speed.
  constexpr int chains = XSIMD_WITH_AVX512F || XSIMD_WITH_NEON64 ? 16 : 12;
  batch acc[chains];
  for (int i = 0; i < chains; ++i) acc[i] = batch(0.001f * float(i));
  const batch a(0.9999999f), b(1e-7f);
  constexpr long iterations = 20'000'000;
  const auto start = std::chrono::steady_clock::now();
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < chains; ++i) acc[i] = xsimd::fma(acc[i], a, b);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  float sink = 0;
  for (int i = 0; i < chains; ++i) sink += xsimd::hadd(acc[i]);
  volatile float keep = sink;
  (void)keep;
  return double(iterations) * chains * batch::size * 2 / seconds * 1e-9;
}

/// Measured once per process.
inline double fma_peak_gflops() {
  static const double peak = measure_fma_peak_gflops();
  return peak;
}

}  // namespace coda::bench

// The blocked GEMM against a triple loop, over shapes that straddle every block and register
// tile boundary (whatever tile the instruction set chose), with transposed operands and accumulation.
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "coda/kernels/gemm.hpp"
#include "support/tolerance.hpp"

using namespace coda;

namespace {

template <class T>
void check_gemm(index_t m, index_t n, index_t k, bool trans_a, bool trans_b, bool accumulate) {
  std::mt19937 rng(static_cast<unsigned>(m * 131 + n * 17 + k));
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> a(m * k), b(k * n), c(m * n), expect(m * n);
  for (auto& v : a) v = T(u(rng));
  for (auto& v : b) v = T(u(rng));
  for (auto& v : c) v = T(u(rng));
  const kernels::matrix_ref<T> ar = trans_a ? kernels::transposed(a.data(), m) : kernels::row_major(a.data(), k);
  const kernels::matrix_ref<T> br = trans_b ? kernels::transposed(b.data(), k) : kernels::row_major(b.data(), n);
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      double s = accumulate ? double(c[i * n + j]) : 0.0;
      for (index_t p = 0; p < k; ++p) s += double(ar(i, p)) * double(br(p, j));
      expect[i * n + j] = T(s);
    }
  arena<T> scratch;
  scratch.reserve(kernels::gemm_scratch<T>(m, n, k));
  kernels::gemm<T>(m, n, k, ar, br, c.data(), n, accumulate, scratch);
  CHECK(scratch.peak() <= kernels::gemm_scratch<T>(m, n, k));
  INFO("m=" << m << " n=" << n << " k=" << k << " ta=" << trans_a << " tb=" << trans_b << " acc=" << accumulate);
  CHECK(test::relative_error(c.data(), expect.data(), c.size()) < (sizeof(T) == 4 ? 1e-5 : 1e-13));
}

}  // namespace

TEST_CASE("gemm matches a triple loop across block boundaries", "[gemm]") {
  const index_t sizes[] = {1, 5, 17, 33, 97, 300};
  for (index_t m : sizes)
    for (index_t n : {index_t(1), index_t(31), index_t(65), index_t(530)})
      for (index_t k : {index_t(1), index_t(7), index_t(257), index_t(600)}) check_gemm<float>(m, n, k, false, false, false);
}

TEST_CASE("gemm handles transposed operands and accumulation", "[gemm]") {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool acc : {false, true}) {
        check_gemm<float>(45, 70, 130, ta, tb, acc);
        check_gemm<double>(13, 29, 300, ta, tb, acc);
      }
}

TEST_CASE("the register tile fits the cache blocks for every element type", "[gemm]") {
  // gemm_packed_a finds the panels of row block ic at ic * kc: whole MR-row panels per MC block.
  STATIC_REQUIRE(kernels::gemm_blocking<float>::mc % kernels::gemm_blocking<float>::mr == 0);
  STATIC_REQUIRE(kernels::gemm_blocking<double>::mc % kernels::gemm_blocking<double>::mr == 0);
  // The micro-kernel loads NR columns of B as whole vectors.
  STATIC_REQUIRE(simd::tile_shape<float>::nr % simd::lanes<float> == 0);
  STATIC_REQUIRE(simd::tile_shape<double>::nr % simd::lanes<double> == 0);
}

TEST_CASE("gemm with k = 0 writes zeros or leaves C alone", "[gemm]") {
  std::vector<float> c(6, 3.f);
  arena<float> scratch;
  kernels::gemm<float>(2, 3, 0, {nullptr, 0, 0}, {nullptr, 0, 0}, c.data(), 3, true, scratch);
  CHECK(c[0] == 3.f);
  kernels::gemm<float>(2, 3, 0, {nullptr, 0, 0}, {nullptr, 0, 0}, c.data(), 3, false, scratch);
  CHECK(c[5] == 0.f);
}

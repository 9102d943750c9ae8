// The blocked GEMM against a triple loop, over shapes that straddle every block and register
// tile boundary (whatever tile the instruction set chose), with transposed operands and accumulation.
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "coda/kernels/gemm.hpp"
#include "support/tolerance.hpp"

namespace test_gemm {

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

namespace {

/// The rows-of-Kronecker-products view in every role the training backward gives it (B, A
/// through its transpose, B transposed for gemm_packed_a), against the same product over the
/// matrix written out. V = 5 and 40 put runs of one u-column across panel edges.
template <class T>
void check_kronecker(index_t k, index_t U, index_t V, bool transposed_store) {
  std::mt19937 rng(static_cast<unsigned>(k * 7 + U * 3 + V));
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<T> u(k * U), v(k * V), full(k * U * V), other(k * 37);
  for (auto* x : {&u, &v, &other})
    for (auto& e : *x) e = T(dist(rng));
  // Stored transposed, u and v take the other path of each orientation's packing.
  std::vector<T> u_t(U * k), v_t(V * k);
  for (index_t p = 0; p < k; ++p) {
    for (index_t a = 0; a < U; ++a) u_t[a * k + p] = u[p * U + a];
    for (index_t b = 0; b < V; ++b) v_t[b * k + p] = v[p * V + b];
  }
  const kernels::matrix_ref<T> ur = transposed_store ? kernels::transposed(u_t.data(), k) : kernels::row_major(u.data(), U);
  const kernels::matrix_ref<T> vr = transposed_store ? kernels::transposed(v_t.data(), k) : kernels::row_major(v.data(), V);
  const kernels::kronecker_rows_ref<T> kron{ur, vr, V};
  for (index_t p = 0; p < k; ++p)
    for (index_t a = 0; a < U; ++a)
      for (index_t b = 0; b < V; ++b) {
        full[p * U * V + a * V + b] = u[p * U + a] * v[p * V + b];
        REQUIRE(kron(p, a * V + b) == full[p * U * V + a * V + b]);
        REQUIRE(kron.transpose()(a * V + b, p) == full[p * U * V + a * V + b]);
      }
  const index_t n = U * V, m = 37;
  const std::size_t scratch_size = std::max(
      {kernels::gemm_scratch<T>(m, n, k), kernels::gemm_scratch<T>(n, m, k), kernels::gemm_scratch<T>(m, k, n)});
  const auto run = [&](auto product, std::vector<T>& out, const std::vector<T>& expect) {
    arena<T> scratch;
    scratch.reserve(scratch_size);
    product(scratch);
    INFO("k=" << k << " U=" << U << " V=" << V << " transposed_store=" << transposed_store);
    CHECK(test::relative_error(out.data(), expect.data(), out.size()) < test::tolerance::float_reorder);
  };
  // As B: C (m x n) = other^T (m x k) * kron (k x n).
  std::vector<T> c(m * n), expect(m * n);
  arena<T> plain;
  plain.reserve(scratch_size);
  kernels::gemm<T>(m, n, k, kernels::transposed(other.data(), m), kernels::row_major(full.data(), n), expect.data(), n, false, plain);
  run([&](arena<T>& s) { kernels::gemm<T>(m, n, k, kernels::transposed(other.data(), m), kron, c.data(), n, false, s); }, c, expect);
  // As A, transposed: C (n x m) = kron^T (n x k) * other (k x m).
  std::vector<T> ct(n * m), expect_t(n * m);
  kernels::gemm<T>(n, m, k, kernels::transposed(full.data(), n), kernels::row_major(other.data(), m), expect_t.data(), m, false, plain);
  run([&](arena<T>& s) { kernels::gemm<T>(n, m, k, kron.transpose(), kernels::row_major(other.data(), m), ct.data(), m, false, s); },
      ct, expect_t);
  // As B, transposed, after a pre-packed A: C (m x k) = W (m x n) * kron^T (n x k).
  std::vector<T> w(m * n), packed(kernels::packed_a_size<T>(m, n)), ck(m * k), expect_k(m * k);
  for (auto& e : w) e = T(dist(rng));
  kernels::pack_a<T>(m, n, kernels::row_major(w.data(), n), packed.data());
  kernels::gemm<T>(m, k, n, kernels::row_major(w.data(), n), kernels::transposed(full.data(), n), expect_k.data(), k, false, plain);
  run([&](arena<T>& s) { kernels::gemm_packed_a<T>(m, k, n, packed.data(), kron.transpose(), ck.data(), k, false, s); }, ck,
      expect_k);
}

}  // namespace

TEST_CASE("products read rows of Kronecker products without forming them", "[gemm][kronecker]") {
  for (bool transposed_store : {false, true}) {
    check_kronecker<float>(70, 3, 5, transposed_store);
    check_kronecker<float>(300, 4, 40, transposed_store);
    check_kronecker<float>(9, 16, 64, transposed_store);
  }
}

TEST_CASE("products read the upper triangles of rows' outer products without forming them", "[gemm][kronecker]") {
  // R = 5 and 70 put runs of one a across panel edges; k = 300 spans two K blocks.
  for (index_t R : {1, 5, 33, 70})
    for (index_t k : {9, 300}) {
      std::mt19937 rng(static_cast<unsigned>(R * 11 + k));
      std::uniform_real_distribution<double> dist(-1, 1);
      const index_t n = R * (R + 1) / 2, m = 13;
      std::vector<float> v(k * R), full(k * n), other(m * k), c(m * n), expect(m * n);
      for (auto* x : {&v, &other})
        for (auto& e : *x) e = float(dist(rng));
      for (index_t p = 0; p < k; ++p)
        for (index_t a = 0, j = 0; a < R; ++a)
          for (index_t b = a; b < R; ++b) full[p * n + j++] = v[p * R + a] * v[p * R + b];
      arena<float> scratch;
      scratch.reserve(kernels::gemm_scratch<float>(m, n, k));
      kernels::gemm<float>(m, n, k, kernels::row_major(other.data(), k), kernels::row_major(full.data(), n), expect.data(), n, false,
                           scratch);
      kernels::gemm<float>(m, n, k, kernels::row_major(other.data(), k), kernels::kronecker_pairs_ref<float>{kernels::row_major(v.data(), R), R},
                           c.data(), n, false, scratch);
      INFO("R=" << R << " k=" << k);
      CHECK(c == expect);  // the same products summed in the same order
    }
}

TEST_CASE("a product over a range of a packed operand's columns reads them where the packing put them", "[gemm]") {
  // A is 21 x 700: three KC blocks, the last partial; the ranges start at a block's first column,
  // inside one, end at a block's last column, and fill the partial block. C has columns of its own
  // (ldc 9 > n = 6) that must stay untouched.
  using T = double;
  constexpr index_t kc = kernels::gemm_blocking<T>::kc;
  const index_t m = 21, n = 6, k_total = 700, ldc = 9;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> a(m * k_total), packed(kernels::packed_a_size<T>(m, k_total));
  for (auto& v : a) v = u(rng);
  kernels::pack_a<T>(m, k_total, kernels::row_major(a.data(), k_total), packed.data());
  CHECK_FALSE(kernels::packed_columns_contiguous<T>(kc - 1, 2));
  CHECK_FALSE(kernels::packed_columns_contiguous<T>(0, 0));
  const index_t ranges[][2] = {{0, 64}, {kc + 40, 24}, {kc - 7, 7}, {2 * kc, k_total - 2 * kc}};
  for (const auto& r : ranges) {
    const index_t k0 = r[0], k = r[1];
    REQUIRE(kernels::packed_columns_contiguous<T>(k0, k));
    std::vector<T> b(k * n), c(m * ldc), expect;
    for (auto& v : b) v = u(rng);
    for (auto& v : c) v = u(rng);
    expect = c;
    arena<T> plain;
    plain.reserve(kernels::gemm_scratch<T>(m, n, k));
    kernels::gemm<T>(m, n, k, kernels::matrix_ref<T>{a.data() + k0, k_total, 1}, kernels::row_major(b.data(), n), expect.data(), ldc,
                     true, plain);
    arena<T> scratch;
    scratch.reserve(kernels::gemm_scratch<T>(m, n, k));
    kernels::gemm_packed_a_columns<T>(m, n, k0, k, k_total, packed.data(), kernels::row_major(b.data(), n), c.data(), ldc, true,
                                      scratch);
    INFO("columns [" << k0 << ", " << k0 + k << ")");
    CHECK(scratch.peak() <= kernels::gemm_scratch<T>(m, n, k));
    CHECK(test::relative_error(c.data(), expect.data(), c.size()) < test::tolerance::double_reorder);
  }
}

TEST_CASE("packing A a block at a time puts every element where packing it whole does", "[gemm]") {
  // A is 3 panels and a partial one by 2 KC blocks and part of a third; the blocks of columns
  // cross KC boundaries and the last block of rows ends in the partial panel.
  using T = float;
  constexpr index_t mr = kernels::gemm_blocking<T>::mr, kc = kernels::gemm_blocking<T>::kc;
  const index_t m = 3 * mr + 2, k = 2 * kc + 50;
  std::vector<T> a(m * k), whole(kernels::packed_a_size<T>(m, k)), blocks(whole.size(), T(99));
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = T(i);
  kernels::pack_a<T>(m, k, kernels::row_major(a.data(), k), whole.data());
  const index_t row_blocks[][2] = {{0, 2 * mr}, {2 * mr, mr + 2}};
  const index_t column_blocks[][2] = {{0, kc - 30}, {kc - 30, 100}, {kc + 70, k - kc - 70}};
  for (const auto& r : row_blocks)
    for (const auto& c : column_blocks) {
      // The block alone, as the caller forms it, column-major to exercise the view's strides.
      std::vector<T> block(r[1] * c[1]);
      for (index_t i = 0; i < r[1]; ++i)
        for (index_t p = 0; p < c[1]; ++p) block[p * r[1] + i] = a[(r[0] + i) * k + c[0] + p];
      kernels::pack_a_block<T>(m, k, r[0], r[1], c[0], c[1], kernels::transposed(block.data(), r[1]), blocks.data());
    }
  CHECK(blocks == whole);
}

TEST_CASE("the packing's transposing copy moves every element where the element copy does", "[gemm][simd]") {
  // Whole 8x8 register blocks and ragged edges on both sides, from a strided source, into rows
  // with room to spare: the values outside the copied block must stay as they were.
  const auto check = [](auto zero) {
    using T = decltype(zero);
    const index_t stride = 37, ld = 29;
    std::vector<T> in(stride * 30);
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = T(i);
    for (index_t rows : {1, 7, 8, 9, 16, 23})
      for (index_t count : {1, 8, 13, 24, 29}) {
        std::vector<T> expect(std::size_t(rows * ld), T(-1)), got = expect;
        for (index_t j = 0; j < count; ++j)
          for (index_t p = 0; p < rows; ++p) expect[std::size_t(p * ld + j)] = in[std::size_t(j * stride + p + 3)];
        simd::transpose_copy(in.data() + 3, stride, rows, count, got.data(), ld);
        INFO("rows " << rows << ", count " << count);
        CHECK(got == expect);
      }
  };
  check(0.0f);
  check(0.0);
}

}  // namespace test_gemm

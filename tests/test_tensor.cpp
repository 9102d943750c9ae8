// The Eigen maps of the tensor types: fixed per-sample extents, alignment where the storage
// guarantees it, const-correctness, and fused element-wise expressions.
#include <catch2/catch.hpp>
#include <cstdint>
#include <type_traits>

#include "coda/core/tensor.hpp"

namespace test_tensor {

using namespace coda;

namespace {

using image = shape<6, 32, 32>;

template <class Map>
constexpr int map_alignment = Eigen::internal::traits<Map>::Alignment;

template <class Map>
bool is_const_map() {
  return !bool(Eigen::internal::traits<Map>::Flags & Eigen::LvalueBit);
}

}  // namespace

TEST_CASE("a sample maps to fixed-size aligned Eigen types", "[tensor]") {
  using s = sample<float, image>;
  using array_t = decltype(std::declval<s&>().array());
  using matrix_t = decltype(std::declval<s&>().matrix());
  STATIC_REQUIRE(std::is_same_v<array_t, Eigen::Map<Eigen::Array<float, 6144, 1>, Eigen::Aligned64>>);
  STATIC_REQUIRE(std::is_same_v<matrix_t, Eigen::Map<Eigen::Matrix<float, 6, 1024, Eigen::RowMajor>, Eigen::Aligned64>>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const s&>().array()),
                                Eigen::Map<const Eigen::Array<float, 6144, 1>, Eigen::Aligned64>>);
  // A one-axis shape is a column vector as a matrix too.
  STATIC_REQUIRE(decltype(std::declval<sample<double, shape<10>>&>().matrix())::ColsAtCompileTime == 1);
}

TEST_CASE("sample maps read and write the sample in NCHW order", "[tensor]") {
  sample<float, image> x;
  x.array() = -1.f;
  x(2, 3, 4) = 5.f;
  x(5, 31, 31) = 2.f;
  CHECK(x.array().max(0.f).sum() == 7.f);
  CHECK(x.matrix()(2, 3 * 32 + 4) == 5.f);
  CHECK(x.matrix().rowwise().sum()(5) == Approx(-1021.f));
  const sample<float, image>& c = x;
  CHECK(c.array()(2 * 1024 + 3 * 32 + 4) == 5.f);
}

TEST_CASE("batches map to [batch][sample size] with the sample size fixed", "[tensor]") {
  using t_type = tensor<float, shape<2, 3, 4>>;
  using v_type = tensor_view<const float, shape<2, 3, 4>>;
  STATIC_REQUIRE(decltype(std::declval<t_type&>().array())::ColsAtCompileTime == 24);
  STATIC_REQUIRE(decltype(std::declval<t_type&>().matrix())::RowsAtCompileTime == Eigen::Dynamic);
  // A tensor's storage is 64-byte aligned; each 96-byte sample of it is 32-byte aligned; a view
  // may wrap any pointer and promises nothing.
  STATIC_REQUIRE(map_alignment<decltype(std::declval<t_type&>().array())> == 64);
  STATIC_REQUIRE(map_alignment<decltype(std::declval<t_type&>().sample_array(0))> == 32);
  STATIC_REQUIRE(map_alignment<decltype(std::declval<v_type&>().array())> == 0);
  STATIC_REQUIRE(decltype(std::declval<v_type&>().sample_matrix(0))::RowsAtCompileTime == 2);
  CHECK(is_const_map<decltype(std::declval<v_type&>().array())>());
  CHECK(is_const_map<decltype(std::declval<const t_type&>().sample_array(0))>());
  CHECK_FALSE(is_const_map<decltype(std::declval<t_type&>().sample_array(0))>());

  t_type t(3);
  t.array().rowwise() = Eigen::Array<float, 1, 24>::LinSpaced(0.f, 23.f);
  t.sample_array(1) *= 2.f;
  const v_type v = t;
  CHECK(v.array().rows() == 3);
  CHECK(v(1, 1, 2, 3) == 2.f * 23.f);
  CHECK(v.matrix().rowwise().sum()(1) == Approx(2.f * 276.f));
  CHECK(v.slice(1, 2).sample_matrix(0)(1, 11) == 2.f * 23.f);
  CHECK((v.sample_array(2) - v.sample_array(0)).abs().maxCoeff() == 0.f);
}

}  // namespace test_tensor

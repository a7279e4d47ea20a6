// SPDX-License-Identifier: Apache-2.0
#include <fda/eigen.hpp>
#include <fda/kernels.hpp>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "support.hpp"

namespace {
using row_major_f = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A model of several tensors (one of them empty) holding the values of `flat` in order.
std::vector<Eigen::MatrixXf> as_matrices(const std::vector<float>& flat) {
  const std::pair<int, int> shapes[] = {{64, 70}, {1, 5}, {0, 3}, {33, 100}, {128, 40}};
  std::vector<Eigen::MatrixXf> model;
  std::size_t at = 0;
  for (auto [r, c] : shapes) {
    model.emplace_back(r, c);
    std::copy_n(flat.begin() + long(at), r * c, model.back().data());
    at += std::size_t(r * c);
  }
  REQUIRE(at == flat.size());
  return model;
}
}  // namespace

TEST_CASE("Eigen vectors and matrices are viewed in place, in storage order") {
  Eigen::VectorXf vf = Eigen::VectorXf::LinSpaced(5, 0, 4);
  auto v = fda::view(vf);
  STATIC_REQUIRE(std::is_same_v<decltype(v), fda::param_view<float>>);
  REQUIRE(v.size() == 5);
  CHECK(v.segments()[0].data() == vf.data());
  v[2] = 42;
  CHECK(vf(2) == 42);

  Eigen::MatrixXd md(3, 4);
  md.setRandom();
  auto vd = fda::view(md);
  STATIC_REQUIRE(std::is_same_v<decltype(vd), fda::param_view<double>>);
  REQUIRE(vd.size() == 12);
  CHECK(vd.segments()[0].data() == md.data());
  CHECK(vd[1] == md(1, 0));  // column-major
  vd[4] = -1;
  CHECK(md(1, 1) == -1);

  row_major_f rm(2, 3);
  rm << 1, 2, 3, 4, 5, 6;
  auto vr = fda::view(rm);
  REQUIRE(vr.size() == 6);
  CHECK(vr[1] == 2);  // row-major: (0, 1) follows (0, 0)
  CHECK(vr[3] == 4);

  Eigen::Matrix4f fixed = Eigen::Matrix4f::Identity();
  auto vx = fda::view(fixed);
  CHECK(vx.size() == 16);
  CHECK(vx.segments()[0].data() == fixed.data());
  CHECK(fda::sq_norm(fixed) == 4.0);

  Eigen::ArrayXXd arr = Eigen::ArrayXXd::Constant(2, 5, 3.0);
  CHECK(fda::view(arr).size() == 10);
  CHECK(fda::sq_norm(arr) == 90.0);

  Eigen::MatrixXf empty;
  CHECK(fda::view(empty).empty());
}

TEST_CASE("const Eigen objects give views of const elements") {
  const Eigen::MatrixXd cm = Eigen::MatrixXd::Ones(2, 2);
  STATIC_REQUIRE(std::is_same_v<decltype(fda::view(cm)), fda::param_view<const double>>);
  CHECK(fda::view(cm).segments()[0].data() == cm.data());
  CHECK(fda::view(cm).size() == 4);

  Eigen::MatrixXf m = Eigen::MatrixXf::Ones(3, 2);
  Eigen::Ref<const Eigen::MatrixXf> cref(m);
  STATIC_REQUIRE(std::is_same_v<decltype(fda::view(cref)), fda::param_view<const float>>);
  CHECK(fda::view(cref).segments()[0].data() == m.data());
}

TEST_CASE("Eigen Map and Ref alias the memory they wrap") {
  std::vector<float> buffer{1, 2, 3, 4, 5, 6};
  Eigen::Map<Eigen::MatrixXf> map(buffer.data(), 2, 3);
  auto vm = fda::view(map);
  CHECK(vm.size() == 6);
  CHECK(vm.segments()[0].data() == buffer.data());
  vm[5] = 60;
  CHECK(buffer[5] == 60);
  // A Map owns nothing, so a temporary one is fine to view.
  CHECK(fda::view(Eigen::Map<Eigen::VectorXf>(buffer.data(), 4)).size() == 4);
  Eigen::Map<const Eigen::VectorXf> cmap(buffer.data(), 6);
  STATIC_REQUIRE(std::is_same_v<decltype(fda::view(cmap)), fda::param_view<const float>>);

  Eigen::VectorXd vd = Eigen::VectorXd::Zero(7);
  Eigen::Ref<Eigen::VectorXd> ref(vd);
  auto vr = fda::view(ref);
  CHECK(vr.size() == 7);
  CHECK(vr.segments()[0].data() == vd.data());
  vr[6] = 9;
  CHECK(vd(6) == 9);

  Eigen::MatrixXf m = Eigen::MatrixXf::Zero(4, 3);
  CHECK(fda::view(m.col(1)).segments()[0].data() == m.data() + 4);  // a column is contiguous
}

TEST_CASE("strided Eigen objects are rejected with their strides") {
  std::vector<float> buffer(10, 1.0f);
  Eigen::Map<Eigen::VectorXf, 0, Eigen::InnerStride<2>> strided(buffer.data(), 5);
  CHECK_THROWS_AS(fda::view(strided), fda::invalid_argument);
  CHECK_THROWS_WITH(fda::view(strided), Catch::Contains("not contiguous") &&
                                            Catch::Contains("inner stride 2"));
  CHECK_THROWS_AS(fda::sq_norm(strided), fda::invalid_argument);

  Eigen::MatrixXf m(4, 5);
  CHECK_THROWS_WITH(fda::view(m.topRows(2)), Catch::Contains("outer stride 4"));
  CHECK_THROWS_AS(fda::view(m.row(0)), fda::invalid_argument);
  CHECK(fda::view(m.leftCols(2)).size() == 8);  // whole columns stay contiguous
}

TEST_CASE("which Eigen types are viewable") {
  STATIC_REQUIRE(fda::viewable<Eigen::VectorXf>);
  STATIC_REQUIRE(fda::viewable<const Eigen::ArrayXXd>);
  STATIC_REQUIRE(fda::viewable<Eigen::Map<Eigen::Matrix3d>>);
  STATIC_REQUIRE(fda::viewable<std::vector<Eigen::MatrixXf>>);
  STATIC_REQUIRE_FALSE(fda::viewable<Eigen::VectorXi>);
  STATIC_REQUIRE_FALSE(fda::viewable<Eigen::MatrixXcf>);
  STATIC_REQUIRE_FALSE(fda::viewable<std::vector<Eigen::MatrixXi>>);
  using sum = decltype(Eigen::VectorXf() + Eigen::VectorXf());  // an expression: no memory
  STATIC_REQUIRE_FALSE(fda::viewable<sum>);
  // The adapter leaves the other rules as they were.
  STATIC_REQUIRE(fda::viewable<std::vector<float>>);
  STATIC_REQUIRE_FALSE(fda::viewable<std::vector<int>>);
  STATIC_REQUIRE_FALSE(fda::viewable<std::string>);
  STATIC_REQUIRE_FALSE(fda::viewable<int>);
}

TEST_CASE("a std::vector of Eigen matrices is one model, bit-identical to its concatenation") {
  const auto w = fda_test::mixed_magnitude<float>(64 * 70 + 5 + 33 * 100 + 128 * 40, 1);
  const auto w0 = fda_test::mixed_magnitude<float>(w.size(), 2);
  const auto xi = fda_test::gaussian<float>(w.size(), 3);
  auto mw = as_matrices(w);
  const auto mw0 = as_matrices(w0);
  const auto mxi = as_matrices(xi);

  auto v = fda::view(mw);
  STATIC_REQUIRE(std::is_same_v<decltype(v), fda::param_view<float>>);
  REQUIRE(v.size() == w.size());
  REQUIRE(v.segments().size() == 4);  // the 0x3 matrix adds no segment
  CHECK(v.segments()[1].data() == mw[1].data());
  CHECK(v[64 * 70 + 2] == w[64 * 70 + 2]);
  STATIC_REQUIRE(std::is_same_v<decltype(fda::view(mw0)), fda::param_view<const float>>);

  const auto got = fda::drift(mw, mw0, mxi);
  const auto want = fda::drift(w, w0, xi);
  CHECK(got.sq_norm == want.sq_norm);
  CHECK(got.dot == want.dot);
  CHECK(fda::sq_norm(mw) == fda::sq_norm(w));
  CHECK(fda::dot(mw, mxi) == fda::dot(w, xi));
  CHECK(fda::drift(mw, w0, mxi).dot == want.dot);  // mixed containers agree too

  v[0] = 7;
  CHECK(mw[0](0, 0) == 7);
}

TEST_CASE("temporaries: a Map or Ref owns nothing and may be viewed, a Matrix may not") {
  STATIC_REQUIRE(fda::detail::borrowed_params<Eigen::Map<Eigen::VectorXf>>());
  STATIC_REQUIRE_FALSE(fda::detail::borrowed_params<Eigen::MatrixXf>());
  STATIC_REQUIRE_FALSE(fda::detail::borrowed_params<Eigen::Vector4d>());
}

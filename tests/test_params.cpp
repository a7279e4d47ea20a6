// SPDX-License-Identifier: Apache-2.0
#include <fda/params.hpp>

#include <array>
#include <catch2/catch.hpp>
#include <span>

namespace user {
/// A user's model type: fda sees it through the ADL customization point fda_view.
struct two_layer_model {
  std::vector<float> weights{1, 2, 3, 4, 5, 6};
  std::vector<float> bias{7, 8};
};
inline auto fda_view(two_layer_model& m) {
  auto v = fda::view(m.weights);
  v.append(fda::view(m.bias));
  return v;
}
inline auto fda_view(const two_layer_model& m) {
  auto v = fda::view(m.weights);
  v.append(fda::view(m.bias));
  return v;
}
}  // namespace user

namespace {
template <class V>
std::vector<double> flatten(const V& v) {
  std::vector<double> out;
  for (auto s : v.segments())
    for (auto x : s) out.push_back(double(x));
  return out;
}
}  // namespace

TEST_CASE("views of standard containers share memory, never copy") {
  std::vector<float> vf{1, 2, 3};
  auto v = fda::view(vf);
  STATIC_REQUIRE(std::is_same_v<decltype(v), fda::param_view<float>>);
  REQUIRE(v.size() == 3);
  REQUIRE(v.segments().size() == 1);
  CHECK(v.segments()[0].data() == vf.data());
  v[1] = 20;
  CHECK(vf[1] == 20);

  const std::vector<double> cd{1, 2};
  STATIC_REQUIRE(std::is_same_v<decltype(fda::view(cd)), fda::param_view<const double>>);

  std::array<double, 4> arr{};
  CHECK(fda::view(arr).size() == 4);
  std::span<float> sp(vf);
  CHECK(fda::view(sp).segments()[0].data() == vf.data());
  CHECK(fda::view(std::span<float>(vf)).size() == 3);  // a span is borrowed: no dangling
  float raw[5] = {};
  CHECK(fda::view(raw, 5).size() == 5);
  CHECK(fda::view(raw).size() == 5);

  fda::param_view<const float> as_const = v;
  CHECK(as_const.size() == 3);
}

TEST_CASE("nested ranges and user types concatenate their tensors in order") {
  std::vector<std::vector<float>> layers{{1, 2}, {}, {3}, {4, 5, 6}};
  auto v = fda::view(layers);
  CHECK(v.size() == 6);
  CHECK(v.segments().size() == 3);  // the empty tensor adds no segment
  CHECK(flatten(v) == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(v[3] == 4);

  user::two_layer_model m;
  auto mv = fda::view(m);
  CHECK(mv.size() == 8);
  CHECK(flatten(mv) == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8});
  STATIC_REQUIRE(fda::viewable<user::two_layer_model>);
  STATIC_REQUIRE(fda::viewable<const std::vector<std::vector<double>>>);
  STATIC_REQUIRE_FALSE(fda::viewable<std::vector<int>>);
  STATIC_REQUIRE_FALSE(fda::viewable<std::string>);
  STATIC_REQUIRE_FALSE(fda::viewable<int>);
}

TEST_CASE("a temporary range of borrowed things (spans) may be viewed; one of owning containers may not") {
  std::vector<float> a{1, 2}, b{3};
  // The view refers to what the spans refer to, never to the temporary vector holding them.
  const auto v = fda::view(std::vector<std::span<float>>{std::span<float>(a), std::span<float>(b)});
  CHECK(v.size() == 3);
  CHECK(v[2] == 3);
  CHECK(v.segments()[0].data() == a.data());
  STATIC_REQUIRE(fda::detail::borrowed_params<std::vector<std::span<float>>>());
  STATIC_REQUIRE(fda::detail::borrowed_params<std::vector<std::vector<std::span<double>>>>());
  STATIC_REQUIRE_FALSE(fda::detail::borrowed_params<std::vector<std::vector<float>>>());
  STATIC_REQUIRE_FALSE(fda::detail::borrowed_params<std::vector<float>>());
}

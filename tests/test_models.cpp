// SPDX-License-Identifier: Apache-2.0
// The Fashion-MNIST job's models (examples/models): sizes, gradients against finite
// differences in double precision, LeNet-5's forward against a direct convolution,
// training progress, the client optimizers against hand-computed updates, seeded init.
#include <fda/error.hpp>
#include <fda/params.hpp>
#include <models/models.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace fda::models;

/// n images with pixels U[−1, 1) (centered, as normalized data is) and labels U{0..9},
/// from the models' own portable RNG.
struct batch {
  std::vector<float> images;
  std::vector<std::uint8_t> labels;
  std::size_t n;
  batch(std::size_t count, std::uint64_t seed) : images(count * image_size), labels(count), n(count) {
    std::mt19937_64 rng(seed);
    for (auto& x : images) x = float(2 * uniform01(rng) - 1);
    for (auto& y : labels) y = std::uint8_t(rng() % num_classes);
  }
};

/// [begin, end) of every bias in the PyTorch state_dict layout of each model.
using ranges = std::vector<std::pair<std::size_t, std::size_t>>;
const ranges softmax_biases{{7840, 7850}};
const ranges mlp_biases{{156800, 157000}, {197000, 197200}, {199200, 199210}};
const ranges lenet_biases{{150, 156}, {2556, 2572}, {50572, 50692}, {60772, 60856}, {61696, 61706}};

/// The coordinates to check: `count` drawn at random, `count` / 2 more among those whose
/// gradient g is not 0 (ReLU nets at init have many exact zeros), then every bias.
std::vector<std::size_t> coordinates(const std::vector<double>& g, const ranges& biases, std::size_t count) {
  std::mt19937_64 rng(7);
  std::vector<std::size_t> at, nonzero;
  for (std::size_t i = 0; i < g.size(); ++i)
    if (g[i] != 0) nonzero.push_back(i);
  for (std::size_t i = 0; i < count; ++i) at.push_back(std::size_t(rng() % g.size()));
  for (std::size_t i = 0; i < count / 2; ++i) at.push_back(nonzero[rng() % nonzero.size()]);
  for (auto [b, e] : biases)
    for (std::size_t i = b; i < e; ++i) at.push_back(i);
  return at;
}

/// Biases U(−0.2, 0.2) in place of init's zeros.
template <class T>
void randomize_biases(std::vector<T>& p, const ranges& biases) {
  std::mt19937_64 rng(3);
  for (auto [b, e] : biases)
    for (std::size_t i = b; i < e; ++i) p[i] = T(0.2 * (2 * uniform01(rng) - 1));
}

/// Σ of the cross-entropy over the batch, forward pass only, in the model's precision.
template <class Model>
auto sum_loss(Model& m, const batch& b) {
  return fda::models::detail::cross_entropy(m.logits(b.images.data(), b.n), b.labels.data(), b.n,
                                            num_classes, false);
}

/// The largest relative error |g − fd| / max(|g|, |fd|, 1e-9) of the analytical gradient g
/// of the double model against the central difference fd = (L(w + h) − L(w − h)) / 2h,
/// over the coordinates `at`. The difference is taken on a long double twin of the model
/// (same parameters): in double, rounding alone, ~1e-16·L/h, would be ~1e-10, as large as
/// 1e-6 of the smallest gradients; in long double it is ~1e-13. h = 1e-6 keeps the
/// truncation (~h²) small and the chance that ±h crosses a ReLU or max-pool kink tiny.
template <template <class> class Model>
double max_gradient_error(std::size_t n, const ranges& biases, std::size_t random_coordinates) {
  Model<double> m(n, 3);
  randomize_biases(m.params(), biases);  // else whole ReLU units are off on the small batch
  const batch b(n, 5);
  const double loss = m.loss_and_grad(b.images.data(), b.labels.data(), b.n);
  REQUIRE(std::isfinite(loss));
  Model<long double> twin(n, 3);
  std::copy(m.params().begin(), m.params().end(), twin.params().begin());
  CHECK(double(twin.loss_and_grad(b.images.data(), b.labels.data(), b.n)) == Approx(loss).epsilon(1e-14));

  const long double h = 1e-6L;
  double worst = 0;
  std::size_t worst_at = 0, checked = 0, zero = 0;
  for (auto i : coordinates(m.grads(), biases, random_coordinates)) {
    const long double w = twin.params()[i];
    twin.params()[i] = w + h;
    const long double up = sum_loss(twin, b);
    twin.params()[i] = w - h;
    const long double down = sum_loss(twin, b);
    twin.params()[i] = w;
    const double g = m.grads()[i], fd = double((up - down) / (2 * h * b.n));
    const double err = std::abs(g - fd) / std::max({std::abs(g), std::abs(fd), 1e-9});
    INFO("coordinate " << i << ": analytical " << g << ", finite difference " << fd);
    CHECK(err < 1e-6);
    if (err > worst) worst = err, worst_at = i;
    ++checked;
    zero += g == 0;
  }
  WARN("gradient check: " << checked << " coordinates (" << zero << " with zero gradient), max relative error "
                          << worst << " at " << worst_at);
  return worst;
}

/// LeNet-5 forward by direct convolution, from the PyTorch layout of the parameters:
/// an independent reference for the im2col/GEMM/CNHW path.
std::vector<double> lenet_reference(const std::vector<double>& p, const float* image) {
  std::size_t at = 0;
  auto take = [&](std::size_t count) {
    const double* q = p.data() + at;
    at += count;
    return q;
  };
  auto conv = [&](const std::vector<double>& x, std::size_t cin, std::size_t side, std::size_t cout,
                  std::size_t pad) {
    const double* w = take(cout * cin * 25);
    const double* b = take(cout);
    const std::size_t o = side + 2 * pad - 4;
    std::vector<double> y(cout * o * o);
    for (std::size_t co = 0; co < cout; ++co)
      for (std::size_t i = 0; i < o; ++i)
        for (std::size_t j = 0; j < o; ++j) {
          double sum = b[co];
          for (std::size_t ci = 0; ci < cin; ++ci)
            for (std::size_t kh = 0; kh < 5; ++kh)
              for (std::size_t kw = 0; kw < 5; ++kw) {
                const long r = long(i + kh) - long(pad), c = long(j + kw) - long(pad);
                if (r < 0 || c < 0 || r >= long(side) || c >= long(side)) continue;
                sum += w[((co * cin + ci) * 5 + kh) * 5 + kw] * x[(ci * side + std::size_t(r)) * side + std::size_t(c)];
              }
          y[(co * o + i) * o + j] = std::max(sum, 0.0);  // ReLU
        }
    std::vector<double> pooled(cout * (o / 2) * (o / 2));
    for (std::size_t co = 0; co < cout; ++co)
      for (std::size_t i = 0; i < o / 2; ++i)
        for (std::size_t j = 0; j < o / 2; ++j) {
          const double* r = &y[(co * o + 2 * i) * o + 2 * j];
          pooled[(co * (o / 2) + i) * (o / 2) + j] = std::max({r[0], r[1], r[o], r[o + 1]});
        }
    return pooled;
  };
  auto dense = [&](const std::vector<double>& x, std::size_t out, bool relu) {
    const double* w = take(out * x.size());
    const double* b = take(out);
    std::vector<double> y(out);
    for (std::size_t i = 0; i < out; ++i) {
      double sum = b[i];
      for (std::size_t j = 0; j < x.size(); ++j) sum += w[i * x.size() + j] * x[j];
      y[i] = relu ? std::max(sum, 0.0) : sum;
    }
    return y;
  };
  std::vector<double> x(image, image + image_size);
  auto a = conv(conv(x, 1, 28, 6, 2), 6, 14, 16, 0);  // 16 × 5 × 5, flattened as (c, h, w)
  return dense(dense(dense(a, 120, true), 84, true), num_classes, false);
}

template <class Model>
void trains_on_a_fixed_batch() {
  Model m(32, 1);
  const batch b(32, 11);
  sgd<float> opt({.lr = 0.01, .momentum = 0.9});
  const float first = m.loss_and_grad(b.images.data(), b.labels.data(), b.n);
  float last = first;
  for (int step = 0; step < 50; ++step) {
    last = m.loss_and_grad(b.images.data(), b.labels.data(), b.n);
    opt.step(m.params(), m.grads());
  }
  INFO("loss " << first << " -> " << last);
  CHECK(first > 2.0f);  // ≈ log 10 = 2.30 at init
  CHECK(last < 0.5f * first);
}

}  // namespace

TEST_CASE("the models have the parameter counts of their PyTorch twins") {
  CHECK(softmax_regression().size() == 7'850);
  CHECK(mlp().size() == 199'210);
  CHECK(lenet5().size() == 61'706);
  CHECK(basic_lenet5<double>().size() == 61'706);
}

TEST_CASE("fda::view sees every parameter of a model in place") {
  lenet5 m;
  auto v = fda::view(m.params());
  REQUIRE(v.size() == 61'706);
  REQUIRE(v.segments().size() == 1);
  CHECK(v.segments()[0].data() == m.params().data());
  CHECK(m.grads().size() == m.params().size());
}

TEST_CASE("analytical gradients match central differences (double)") {
  SECTION("softmax regression") { CHECK(max_gradient_error<basic_softmax_regression>(4, softmax_biases, 200) < 1e-6); }
  SECTION("MLP") { CHECK(max_gradient_error<basic_mlp>(4, mlp_biases, 200) < 1e-6); }
  SECTION("LeNet-5") { CHECK(max_gradient_error<basic_lenet5>(3, lenet_biases, 200) < 1e-6); }
}

TEST_CASE("LeNet-5's im2col/GEMM forward equals a direct convolution") {
  basic_lenet5<double> m(5, 9);
  randomize_biases(m.params(), lenet_biases);  // so that their placement is checked too
  const batch b(5, 21);  // a chunk and a partial one
  const double* z = m.logits(b.images.data(), b.n);
  for (std::size_t s = 0; s < b.n; ++s) {
    const auto want = lenet_reference(m.params(), b.images.data() + s * image_size);
    for (std::size_t k = 0; k < num_classes; ++k) CHECK(z[s * num_classes + k] == Approx(want[k]).epsilon(1e-12).margin(1e-12));
  }
}

TEST_CASE("float and double models agree") {
  lenet5 f(8, 4);
  basic_lenet5<double> d(8, 4);
  // The same seed draws the same parameters, rounded to float.
  for (std::size_t i = 0; i < f.size(); ++i) REQUIRE(f.params()[i] == float(d.params()[i]));
  std::copy(f.params().begin(), f.params().end(), d.params().begin());
  const batch b(8, 2);
  const double lf = f.loss_and_grad(b.images.data(), b.labels.data(), b.n);
  const double ld = d.loss_and_grad(b.images.data(), b.labels.data(), b.n);
  CHECK(lf == Approx(ld).epsilon(1e-5));
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    diff += std::pow(f.grads()[i] - d.grads()[i], 2);
    norm += d.grads()[i] * d.grads()[i];
  }
  CHECK(std::sqrt(diff / norm) < 1e-5);
}

TEST_CASE("the loss decreases over 50 SGD steps on a fixed batch") {
  SECTION("softmax regression") { trains_on_a_fixed_batch<softmax_regression>(); }
  SECTION("MLP") { trains_on_a_fixed_batch<mlp>(); }
  SECTION("LeNet-5") { trains_on_a_fixed_batch<lenet5>(); }
}

TEST_CASE("evaluation runs in chunks of the capacity, and a larger batch grows it") {
  lenet5 small(16, 5), large(128, 5);
  const batch b(100, 8);
  std::vector<std::uint8_t> p1(b.n), p2(b.n);
  small.predict(b.images.data(), b.n, p1.data());
  large.predict(b.images.data(), b.n, p2.data());
  CHECK(p1 == p2);
  CHECK(small.loss(b.images.data(), b.labels.data(), b.n) ==
        Approx(large.loss(b.images.data(), b.labels.data(), b.n)).epsilon(1e-6));
  const double acc = small.accuracy(b.images.data(), b.labels.data(), b.n);
  std::size_t hits = 0;
  for (std::size_t s = 0; s < b.n; ++s) hits += p1[s] == b.labels[s];
  CHECK(acc == double(hits) / double(b.n));

  const float l1 = small.loss_and_grad(b.images.data(), b.labels.data(), b.n);
  CHECK(small.capacity() == 100);
  const std::vector<float> g1 = small.grads();
  CHECK(l1 == large.loss_and_grad(b.images.data(), b.labels.data(), b.n));
  CHECK(g1 == large.grads());

  std::vector<std::uint8_t> bad{3, 10};
  CHECK_THROWS_AS(small.loss_and_grad(b.images.data(), bad.data(), 2), std::invalid_argument);
}

TEST_CASE("init is deterministic per seed and within the He/Glorot bounds") {
  mlp a(1, 42), b(1, 42), c(1, 43);
  CHECK(a.params() == b.params());
  CHECK(a.params() != c.params());
  b.init(43);
  CHECK(b.params() == c.params());
  // He-uniform for fc1 (fan_in 784), Glorot for fc3 (200 + 10); biases 0.
  const auto& p = a.params();
  const double he = std::sqrt(6.0 / 784), glorot = std::sqrt(6.0 / 210);
  CHECK(std::all_of(p.begin(), p.begin() + 156800, [&](float w) { return std::abs(w) <= he; }));
  CHECK(*std::max_element(p.begin(), p.begin() + 156800) > 0.99 * he);
  CHECK(std::all_of(p.begin() + 156800, p.begin() + 157000, [](float w) { return w == 0; }));
  CHECK(std::all_of(p.begin() + 197200, p.begin() + 199200, [&](float w) { return std::abs(w) <= glorot; }));
  // The draw itself: u = (r >> 11)·2⁻⁵³ of std::mt19937_64, whose output the standard fixes.
  std::mt19937_64 rng(42);
  CHECK(p[0] == float((2 * (double(rng() >> 11) * 0x1p-53) - 1) * he));
}

TEST_CASE("SGD with momentum matches hand-computed updates") {
  // w0 = 1, lr = 0.1, μ = 0.9, gradients 1, 1, −2.
  const std::vector<double> grads{1, 1, -2};
  SECTION("plain momentum: v ← μv + g, w ← w − lr v") {
    // v = 1, 1.9, −0.29;  w = 0.9, 0.71, 0.739.
    sgd<double> opt({.lr = 0.1, .momentum = 0.9});
    std::vector<double> w{1}, want{0.9, 0.71, 0.739};
    for (std::size_t t = 0; t < 3; ++t) {
      opt.step(w, std::vector<double>{grads[t]});
      CHECK(w[0] == Approx(want[t]).epsilon(1e-14));
    }
    CHECK(opt.velocity()[0] == Approx(-0.29).epsilon(1e-14));
  }
  SECTION("Nesterov: w ← w − lr (g + μ v)") {
    // w = 1 − 0.1·1.9 = 0.81;  0.81 − 0.1·(1 + 1.71) = 0.539;  0.539 − 0.1·(−2 − 0.261) = 0.7651.
    sgd<double> opt({.lr = 0.1, .momentum = 0.9, .nesterov = true});
    std::vector<double> w{1}, want{0.81, 0.539, 0.7651};
    for (std::size_t t = 0; t < 3; ++t) {
      opt.step(w, std::vector<double>{grads[t]});
      CHECK(w[0] == Approx(want[t]).epsilon(1e-14));
    }
  }
  SECTION("no momentum, and reset") {
    sgd<double> opt({.lr = 0.5});
    std::vector<double> w{1, 2};
    opt.step(w, std::vector<double>{1, -1});
    CHECK(w == std::vector<double>{0.5, 2.5});
    CHECK(opt.velocity().empty());
    sgd<double> m({.lr = 0.1, .momentum = 0.9});
    m.step(w, std::vector<double>{1, 1});
    m.reset();
    m.step(w, std::vector<double>{1, 1});  // v = g again, not μg + g
    CHECK(m.velocity() == std::vector<double>{1, 1});
  }
  SECTION("sizes must agree") {
    sgd<float> opt;
    std::vector<float> w(3), g(2);
    CHECK_THROWS_AS(opt.step(w, g), std::invalid_argument);
  }
}

TEST_CASE("Adam matches hand-computed updates") {
  // lr = 0.1, defaults β1 0.9, β2 0.999, ε 1e-8; w0 = 1; gradients 1, 1, −2.
  // t = 1: m = 0.1, v = 0.001: m̂ = 1, v̂ = 1, w = 1 − 0.1/(1 + 1e-8).
  // t = 2: m = 0.19, v = 0.001999: m̂ = v̂ = 1 again, w −= 0.1/(1 + 1e-8).
  // t = 3: m = 0.171 − 0.2 = −0.029, v = 0.001997001 + 0.004 = 0.005997001;
  //        m̂ = −0.029/0.271, v̂ = 0.005997001/0.002997001, w −= 0.1·m̂/(√v̂ + 1e-8).
  adam<double> opt({.lr = 0.1});
  std::vector<double> w{1};
  const double step = 0.1 / (1 + 1e-8);
  const double m3 = -0.029 / 0.271, v3 = 0.005997001 / 0.002997001;
  const std::vector<double> want{1 - step, 1 - 2 * step, 1 - 2 * step - 0.1 * m3 / (std::sqrt(v3) + 1e-8)};
  const std::vector<double> grads{1, 1, -2};
  for (std::size_t t = 0; t < 3; ++t) {
    opt.step(w, std::vector<double>{grads[t]});
    CHECK(w[0] == Approx(want[t]).epsilon(1e-12));
  }
  CHECK(want[2] == Approx(0.8075649).epsilon(1e-6));  // the hand value
  CHECK(opt.steps() == 3);
  CHECK(opt.first_moment()[0] == Approx(-0.029).epsilon(1e-12));
  CHECK(opt.second_moment()[0] == Approx(0.005997001).epsilon(1e-12));

  // Scale invariance: the first step is ≈ lr·sign(g) whatever |g|.
  adam<float> f({.lr = 0.01});
  std::vector<float> x{0, 0};
  f.step(x, std::vector<float>{1000, -1e-3f});
  CHECK(x[0] == Approx(-0.01f).epsilon(1e-5));
  CHECK(x[1] == Approx(0.01f).epsilon(1e-4));

  // reset() restarts the bias correction: the next step is lr·sign(g) again.
  opt.reset();
  CHECK(opt.steps() == 0);
  const double before = w[0];
  opt.step(w, std::vector<double>{-5});
  CHECK(w[0] - before == Approx(0.1 * 5 / (5 + 1e-8)).epsilon(1e-12));
}

TEST_CASE("Adam's blocked vector update equals the scalar formula on a long vector") {
  // 2,500 coordinates: two full blocks of 1,024 and a partial one.
  const std::size_t d = 2500;
  std::mt19937_64 rng(1);
  std::vector<float> w(d), want(d), m(d, 0), v(d, 0);
  for (auto& x : w) x = float(2 * uniform01(rng) - 1);
  want = w;
  adam<float> opt({.lr = 0.01});
  for (int t = 1; t <= 3; ++t) {
    std::vector<float> g(d);
    for (auto& x : g) x = float(std::ldexp(2 * uniform01(rng) - 1, int(rng() % 20) - 10));
    opt.step(w, g);
    const double c1 = 1 - std::pow(0.9, t), c2 = 1 - std::pow(0.999, t);
    for (std::size_t i = 0; i < d; ++i) {
      m[i] = 0.9f * m[i] + float(1 - 0.9) * g[i];
      v[i] = 0.999f * v[i] + float(1 - 0.999) * g[i] * g[i];
      want[i] -= float(0.01 / c1) * (m[i] / (std::sqrt(v[i]) / float(std::sqrt(c2)) + 1e-8f));
    }
  }
  for (std::size_t i = 0; i < d; ++i) REQUIRE(w[i] == Approx(want[i]).epsilon(1e-6).margin(1e-9));
}

TEST_CASE("the optimizers refuse settings that cannot train, naming the field and the value") {
  // Each bad field alone, the others at their defaults; NaN and ±Inf pass no range check.
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const auto message = [](auto make) -> std::string {
    try {
      make();
    } catch (const fda::invalid_argument& e) {
      return e.what();
    }
    return "(accepted)";
  };
  using Catch::Matchers::Contains;
  const std::pair<std::function<void()>, const char*> refused[] = {
      {[&] { sgd<float>({.lr = nan}); }, "fda::models::sgd: lr = nan"},
      {[&] { sgd<float>({.lr = 0}); }, "fda::models::sgd: lr = 0"},
      {[&] { sgd<float>({.lr = -0.1}); }, "fda::models::sgd: lr = -0.1"},
      {[&] { sgd<float>({.lr = inf}); }, "fda::models::sgd: lr = inf"},
      {[&] { sgd<float>({.momentum = nan}); }, "fda::models::sgd: momentum = nan"},
      {[&] { sgd<float>({.momentum = 1}); }, "fda::models::sgd: momentum = 1"},
      {[&] { sgd<float>({.momentum = -0.5}); }, "fda::models::sgd: momentum = -0.5"},
      {[&] { sgd<double>({.momentum = inf, .nesterov = true}); }, "fda::models::sgd: momentum = inf"},
      {[&] { adam<float>({.lr = nan}); }, "fda::models::adam: lr = nan"},
      {[&] { adam<float>({.lr = -inf}); }, "fda::models::adam: lr = -inf"},
      {[&] { adam<float>({.beta1 = 1}); }, "fda::models::adam: beta1 = 1"},
      {[&] { adam<float>({.beta1 = nan}); }, "fda::models::adam: beta1 = nan"},
      {[&] { adam<float>({.beta2 = -0.1}); }, "fda::models::adam: beta2 = -0.1"},
      {[&] { adam<double>({.beta2 = inf}); }, "fda::models::adam: beta2 = inf"},
      {[&] { adam<float>({.eps = 0}); }, "fda::models::adam: eps = 0"},
      {[&] { adam<float>({.eps = nan}); }, "fda::models::adam: eps = nan"},
      {[&] { adam<float>({.eps = inf}); }, "fda::models::adam: eps = inf"},
      {[&] { sgd<float>().set_lr(nan); }, "fda::models::sgd: lr = nan"},
      {[&] { adam<float>().set_lr(0); }, "fda::models::adam: lr = 0"},
  };
  for (const auto& [make, want] : refused) {
    INFO(want);
    CHECK_THAT(message(make), Contains(want) && Contains("is invalid"));
  }
  // The edges that are fine: momentum and betas 0, tiny positive rates; defaults.
  CHECK_NOTHROW(sgd<float>({.lr = 1e-300, .momentum = 0}));
  CHECK_NOTHROW(sgd<float>({.lr = 0.1, .momentum = 0.99, .nesterov = true}));
  CHECK_NOTHROW(adam<float>({.lr = 1e-6, .beta1 = 0, .beta2 = 0, .eps = 1e-300}));
  CHECK_NOTHROW(sgd<double>());
  CHECK_NOTHROW(adam<double>());
  adam<float> a;
  a.set_lr(0.5);
  CHECK(a.settings().lr == 0.5);
  CHECK_THROWS_AS(a.set_lr(-1), fda::invalid_argument);
  CHECK(a.settings().lr == 0.5);  // a refused rate leaves the old one in force
}

TEST_CASE("a model built for a larger batch trains on a smaller one as a model built for it") {
  // fda-train's worker whose shard is smaller than --batch steps on its whole shard: fewer
  // images than the model's capacity, after full batches have filled its buffers.
  const batch full(32, 5), few(3, 6);
  const auto compare = [&](auto big, auto exact) {
    big.loss_and_grad(full.images.data(), full.labels.data(), full.n);  // leaves 32 columns of data behind
    const auto lb = big.loss_and_grad(few.images.data(), few.labels.data(), few.n);
    const auto le = exact.loss_and_grad(few.images.data(), few.labels.data(), few.n);
    CHECK(std::isfinite(lb));
    CHECK(lb == le);
    CHECK(big.grads() == exact.grads());
    CHECK(big.capacity() == 32);
  };
  SECTION("softmax regression") { compare(softmax_regression(32, 1), softmax_regression(3, 1)); }
  SECTION("MLP") { compare(mlp(32, 1), mlp(3, 1)); }
  SECTION("LeNet-5") { compare(lenet5(32, 1), lenet5(3, 1)); }
}

TEST_CASE("the three models satisfy fda::models::model") {
  STATIC_REQUIRE(model<softmax_regression>);
  STATIC_REQUIRE(model<mlp>);
  STATIC_REQUIRE(model<lenet5>);
  STATIC_REQUIRE(model<basic_mlp<double>>);
  STATIC_REQUIRE(!model<std::vector<float>>);
}

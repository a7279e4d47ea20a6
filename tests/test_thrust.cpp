// SPDX-License-Identifier: Apache-2.0
// The Thrust adapter on Thrust's OpenMP back end: the device code path, run on the CPU,
// against the host kernels. (bench/gpu_check.cu does the same on a CUDA GPU, and
// thrust_nvcc_compile proves the CUDA back end compiles.)
#include <fda/thrust.hpp>
#include <fda/policy/linear_fda.hpp>
#include <fda/policy/sketch_fda.hpp>

#include <omp.h>

#include <catch2/catch.hpp>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using fda_test::mixed_magnitude;

namespace {

template <class T>
thrust::device_vector<T> to_device(const std::vector<T>& v) {
  return thrust::device_vector<T>(v.begin(), v.end());
}

template <class T>
std::vector<T> to_host(const thrust::device_vector<T>& v) {
  std::vector<T> out(v.size());
  thrust::copy(v.begin(), v.end(), out.begin());
  return out;
}

/// v cut into device vectors of pseudo-random lengths (some empty): a model of several tensors.
template <class T>
std::vector<thrust::device_vector<T>> cut_device(const std::vector<T>& v, std::uint64_t seed) {
  std::vector<thrust::device_vector<T>> parts;
  for (const auto& p : fda_test::cut(v, seed)) parts.push_back(to_device(p));
  return parts;
}

/// Integer values in [-range, range]: every sum of them is exact in double, in any order.
template <class T>
std::vector<T> integers(std::size_t n, std::uint64_t seed, int range = 1000) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pick(-range, range);
  std::vector<T> v(n);
  for (auto& x : v) x = T(pick(rng));
  return v;
}

double rel(double got, double want) {
  return want == got ? 0.0 : std::fabs(got - want) / std::max(std::fabs(want), 1e-300);
}

/// The message of the fda::invalid_argument f throws ("" if none).
template <class F>
std::string invalid_argument_of(F f) {
  try {
    f();
  } catch (const fda::invalid_argument& e) {
    return e.what();
  }
  return "";
}

const std::size_t odd_sizes[] = {1, 2, 31, 4095, 4096, 4097, 131'073, 1'000'003};

}  // namespace

TEST_CASE("device views: device_vector, host_vector, device_ptr ranges, raw pointers, several tensors") {
  thrust::device_vector<float> d(10);
  const thrust::device_vector<double> cd(7);
  thrust::host_vector<float> h(5);
  static_assert(std::same_as<fda::view_t<thrust::device_vector<float>>, fda::param_view<float, fda::device_space>>);
  static_assert(std::same_as<fda::view_t<const thrust::device_vector<double>>, fda::param_view<const double, fda::device_space>>);
  static_assert(std::same_as<fda::view_t<thrust::host_vector<float>>, fda::param_view<float>>);
  static_assert(fda::device_viewable<thrust::device_vector<float>> && !fda::host_viewable<thrust::device_vector<float>>);
  static_assert(fda::host_viewable<std::vector<double>> && !fda::device_viewable<std::vector<double>>);
  CHECK(fda::view(d).size() == 10);
  CHECK(fda::view(cd).size() == 7);
  CHECK(fda::view(h).size() == 5);
  CHECK(fda::view(h).segments()[0].data() == h.data());
  CHECK(fda::view(d).segments()[0].data() == thrust::raw_pointer_cast(d.data()));
  CHECK(fda::view(d.data() + 2, 5).size() == 5);
  CHECK(fda::view(d.data() + 2, d.data() + 9).size() == 7);
  CHECK(fda::device_view(thrust::raw_pointer_cast(d.data()), 4).size() == 4);
  CHECK_THROWS_AS(fda::view(d.data() + 5, d.data() + 2), fda::invalid_argument);

  std::vector<thrust::device_vector<float>> model;
  model.emplace_back(3);
  model.emplace_back(0);
  model.emplace_back(4);
  const auto mv = fda::view(model);
  static_assert(std::same_as<std::remove_cvref_t<decltype(mv)>, fda::param_view<float, fda::device_space>>);
  CHECK(mv.size() == 7);
  CHECK(mv.segments().size() == 2);  // the empty tensor is dropped

  // ξ of LinearFDA lives where the parameters do.
  static_assert(std::same_as<fda::space_traits<fda::device_space>::vector<float>, thrust::device_vector<float>>);
  static_assert(std::same_as<fda::space_traits<fda::host_space>::vector<float>, std::vector<float>>);
}

TEMPLATE_TEST_CASE("device reductions match the host kernels on odd sizes up to 1e6", "", float, double) {
  for (std::size_t n : odd_sizes) {
    INFO("n = " << n);
    const auto w = mixed_magnitude<TestType>(n, 1), w0 = mixed_magnitude<TestType>(n, 2),
               xi = mixed_magnitude<TestType>(n, 3);
    const auto dw = to_device(w), dw0 = to_device(w0), dxi = to_device(xi);
    const auto h = fda::drift(w, w0, xi), d = fda::drift(dw, dw0, dxi);
    // The requirement is 1e-6; both sum in double in a fixed order, so they agree far better.
    CHECK(rel(d.sq_norm, h.sq_norm) < 1e-6);
    CHECK(rel(d.sq_norm, h.sq_norm) < 1e-13);
    CHECK(std::fabs(d.dot - h.dot) < 1e-13 * std::sqrt(fda::sq_norm(xi) * h.sq_norm));
    CHECK(rel(fda::sq_norm(dw), fda::sq_norm(w)) < 1e-13);
    CHECK(rel(fda::sq_distance(dw, dw0), fda::sq_distance(w, w0)) < 1e-13);
    CHECK(std::fabs(fda::dot(dw, dxi) - fda::dot(w, xi)) < 1e-13 * std::sqrt(fda::sq_norm(w) * fda::sq_norm(xi)));
    CHECK(fda::sq_distance(dw, dw0) == d.sq_norm);  // the same partition and terms
  }
}

TEST_CASE("device drift on 1e6 floats is within 1e-6 (in fact ~1e-16) of a long-double reference") {
  const std::size_t n = 1'000'003;
  const auto w = mixed_magnitude(n, 11), w0 = mixed_magnitude(n, 12), xi = mixed_magnitude(n, 13);
  long double sq = 0, dt = 0, xx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const long double u = (long double)w[i] - (long double)w0[i];
    sq += u * u;
    dt += (long double)xi[i] * u;
    xx += (long double)xi[i] * xi[i];
  }
  const auto d = fda::drift(to_device(w), to_device(w0), to_device(xi));
  const double e_sq = fda_test::rel_error(d.sq_norm, sq, sq), e_dot = fda_test::rel_error(d.dot, dt, std::sqrt(xx * sq));
  WARN("device drift, relative error at n = 1e6: sq_norm " << e_sq << ", dot " << e_dot);
  CHECK(e_sq < 1e-6);
  CHECK(e_dot < 1e-6);
  CHECK(e_sq < 1e-13);
}

TEST_CASE("device results depend on neither the segmentation nor the number of OpenMP threads") {
  const std::size_t n = 300'007;
  const auto w = mixed_magnitude<double>(n, 4), w0 = mixed_magnitude<double>(n, 5), xi = mixed_magnitude<double>(n, 6);
  const auto dw = to_device(w), dw0 = to_device(w0), dxi = to_device(xi);
  const auto pw = cut_device(w, 7), pw0 = cut_device(w0, 8), pxi = cut_device(xi, 9);
  const auto whole = fda::drift(dw, dw0, dxi);
  fda::ams_sketch<double> s_whole(5, 250, 3);
  s_whole.add(dw);
  const int threads = omp_get_max_threads();
  for (int t : {1, 2, 3, 7}) {
    INFO(t << " OpenMP threads");
    omp_set_num_threads(t);
    const auto pieces = fda::drift(pw, pw0, pxi);
    CHECK(pieces.sq_norm == whole.sq_norm);
    CHECK(pieces.dot == whole.dot);
    CHECK(fda::sq_norm(pw) == fda::sq_norm(dw));
    CHECK(fda::dot(pw, dxi) == fda::dot(dw, pxi));
    fda::ams_sketch<double> s(5, 250, 3);
    s.add(pw);
    CHECK(s == s_whole);
    // and run to run
    CHECK(fda::drift(dw, dw0, dxi).sq_norm == whole.sq_norm);
  }
  omp_set_num_threads(threads);
}

TEST_CASE("element-wise device kernels are bit-identical to the host's, on one or several segments") {
  const std::size_t n = 100'003;
  const auto x = mixed_magnitude<float>(n, 21), y = mixed_magnitude<float>(n, 22);
  auto hy = y;
  auto dy = to_device(y);
  const auto dx = to_device(x);
  fda::axpy(0.37, x, hy);
  fda::axpy(0.37, dx, dy);
  CHECK(to_host(dy) == hy);
  fda::scale(-1.7, hy);
  fda::scale(-1.7, dy);
  CHECK(to_host(dy) == hy);

  auto parts = cut_device(y, 23);
  auto hparts = y;
  fda::axpy(-2.5, dx, parts);
  fda::axpy(-2.5, x, hparts);
  std::vector<float> joined;
  for (const auto& p : parts) {
    const auto hp = to_host(p);
    joined.insert(joined.end(), hp.begin(), hp.end());
  }
  CHECK(joined == hparts);

  // copy converts float ↔ double; fill
  thrust::device_vector<double> dd(n);
  std::vector<double> hd(n);
  fda::copy(dy, dd);
  fda::copy(hy, hd);
  CHECK(to_host(dd) == hd);
  thrust::device_vector<float> back(n);
  fda::copy(dd, back);
  CHECK(to_host(back) == hy);
  fda::fill(dd, 0.25);
  CHECK(to_host(dd) == std::vector<double>(n, 0.25));
  fda::fill(parts, -3.0);
  CHECK(fda::sq_norm(parts) == 9.0 * double(n));
}

TEST_CASE("copy moves parameters between host and device memory, converting types") {
  const std::size_t n = 10'007;
  const auto x = mixed_magnitude<float>(n, 31);
  thrust::device_vector<float> df(n);
  thrust::device_vector<double> dd(n);
  fda::copy(x, df);  // upload
  CHECK(to_host(df) == x);
  fda::copy(x, dd);  // upload, float → double
  std::vector<double> xd(x.begin(), x.end());
  CHECK(to_host(dd) == xd);
  auto parts = fda_test::cut(std::vector<float>(n, 0.0f), 32);  // a multi-segment host view
  fda::copy(dd, parts);  // download, double → float
  std::vector<float> joined;
  for (const auto& p : parts) joined.insert(joined.end(), p.begin(), p.end());
  CHECK(joined == x);
  std::vector<double> down(n);
  fda::copy(cut_device(x, 33), down);  // download from several device segments
  CHECK(down == xd);
  std::vector<float> shorter(n - 1);
  CHECK_THROWS_WITH(fda::copy(df, shorter), Catch::Contains("'src' has 10007 elements but 'dst' has 10006"));
}

TEST_CASE("all_finite on device views finds NaN and infinities anywhere") {
  const std::size_t n = 50'001;
  for (std::size_t at : {std::size_t{0}, std::size_t{4095}, std::size_t{4096}, n - 1}) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      std::vector<float> v(n, 1.0f);
      v[at] = bad;
      CHECK_FALSE(fda::all_finite(to_device(v)));
    }
  }
  CHECK(fda::all_finite(to_device(std::vector<float>(n, 3.0f))));
  CHECK(fda::all_finite(thrust::device_vector<float>()));
}

TEST_CASE("device kernels reject views of different sizes with the host kernels' errors") {
  std::vector<float> a(10), b(9), c(10);
  const auto da = to_device(a), db = to_device(b), dc = to_device(c);
  auto same = [](auto host, auto device) {
    const std::string h = invalid_argument_of(host), d = invalid_argument_of(device);
    CHECK_FALSE(h.empty());
    CHECK(d == h);
  };
  same([&] { fda::drift(a, b, c); }, [&] { fda::drift(da, db, dc); });
  same([&] { fda::drift(a, c, b); }, [&] { fda::drift(da, dc, db); });
  same([&] { fda::sq_distance(a, b); }, [&] { fda::sq_distance(da, db); });
  same([&] { fda::dot(b, a); }, [&] { fda::dot(db, da); });
  auto ha = a;
  auto dma = da;
  same([&] { fda::axpy(1.0, b, ha); }, [&] { fda::axpy(1.0, db, dma); });
  auto dmb = db;
  same([&] { fda::copy(a, b); }, [&] { fda::copy(da, dmb); });
  CHECK_THROWS_WITH(fda::drift(da, db, dc), Catch::Contains("'w0' has 9 elements but 'w' has 10"));
}

TEST_CASE("device sketch: the host's counters exactly for integer data, within rounding otherwise") {
  struct shape {
    std::size_t depth, width;
  };
  for (shape s : {shape{5, 250}, shape{1, 2}, shape{4, 100}, shape{7, 250}, shape{3, 1000}}) {
    for (std::size_t n : odd_sizes) {
      INFO("depth " << s.depth << ", width " << s.width << ", n = " << n);
      {  // integer values: every sum exact, so every order gives the same counters
        const auto v = integers<float>(n, n + 1), v0 = integers<float>(n, n + 2);
        fda::ams_sketch<double> h(s.depth, s.width, 42), d(s.depth, s.width, 42);
        h.add(v);
        d.add(to_device(v));
        CHECK(d == h);
        // two views, as sketch_fda sketches w - w0
        std::vector<double> ch(s.depth * s.width, 0.0), cd(s.depth * s.width, 0.0);
        const fda::detail::sketch_hashes hashes("test", s.depth, s.width, 9);
        const double sqh = fda::detail::sketch_accumulate(hashes, ch.data(), fda::view(v), fda::view(v0));
        const auto dv = to_device(v), dv0 = to_device(v0);
        const double sqd = fda::detail::sketch_in_space(hashes, cd.data(), fda::view(dv), fda::view(dv0));
        CHECK(cd == ch);
        CHECK(sqd == sqh);
      }
      if (n > 131'073 && s.width != 250) continue;  // the rounding check once per size suffices
      {  // floats over 8 decades: counters within rounding of the host's
        const auto v = mixed_magnitude<double>(n, n + 3);
        fda::ams_sketch<double> h(s.depth, s.width, 43), d(s.depth, s.width, 43);
        h.add(v);
        d.add(to_device(v));
        double scale = 0.0, diff = 0.0;
        for (std::size_t i = 0; i < h.data().size(); ++i) {
          scale = std::max(scale, std::fabs(h.data()[i]));
          diff = std::max(diff, std::fabs(d.data()[i] - h.data()[i]));
        }
        CHECK(diff <= 1e-13 * scale);
        CHECK(rel(d.estimate_sq_norm(), h.estimate_sq_norm()) < 1e-12);
      }
    }
  }
}

TEST_CASE("device tiled sketch: the host's counters, ||v||² and Σ m_t² bit for bit") {
  const auto bits = [](const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::bit_cast<std::uint64_t>(a[i]) != std::bit_cast<std::uint64_t>(b[i])) return false;
    return true;
  };
  for (std::size_t n : {1ul, 17ul, 4097ul, 65'585ul, 131'073ul, 1'000'003ul}) {
    for (std::size_t depth : {1, 5}) {
      INFO("n = " << n << ", depth " << depth);
      const fda::detail::tiled_hashes h("test", depth, 250, n + depth);
      const auto v = mixed_magnitude<float>(n, n + 5), v0 = mixed_magnitude<float>(n, n + 6);
      const auto vd = mixed_magnitude<double>(n, n + 7);
      const auto run = [&](const auto&... views) {
        std::vector<double> c(depth * 250, 0.0);
        const auto s = fda::detail::tiled_sketch_in_space(h, c.data(), fda::view(views)...);
        c.push_back(s.sq_norm);
        c.push_back(s.mass_sq);
        return c;
      };
      CHECK(bits(run(to_device(v)), run(v)));
      CHECK(bits(run(to_device(v), to_device(v0)), run(v, v0)));
      CHECK(bits(run(cut_device(v, 3), to_device(v0)), run(v, v0)));
      CHECK(bits(run(to_device(vd), to_device(v)), run(vd, v)));
    }
  }
  fda::tiled_sketch<float> h(5, 250, 1), d(5, 250, 1);
  const auto v = mixed_magnitude<float>(100'000, 9);
  h.add(v, -0.5);
  d.add(to_device(v), -0.5);
  CHECK(d == h);
  CHECK(d.tile_norm() == h.tile_norm());
}

TEST_CASE("device sketch: add with a scale, merges, and the serial reference bit for bit") {
  const std::size_t n = 200'003;
  const auto v = integers<float>(n, 51);
  fda::ams_sketch<float> h(5, 250, 1), d(5, 250, 1);
  h.add(v, -0.5);
  d.add(to_device(v), -0.5);
  CHECK(d == h);
  h += h;
  d += d;
  CHECK(d == h);

  // sketch_reference (what bench/gpu_check.cu compares the CUDA kernel with) is the device algorithm.
  const fda::detail::sketch_hashes hashes("test", 5, 250, 77);
  std::vector<double> ref(5 * 250, 0.0), dev(5 * 250, 0.0);
  const auto mv = mixed_magnitude<double>(n, 53, 8.0), mv0 = mixed_magnitude<double>(n, 54, 8.0);
  const double sq_ref = fda::detail::dev::sketch_reference(hashes, ref.data(), fda::view(mv), fda::view(mv0));
  const auto dmv = to_device(mv), dmv0 = to_device(mv0);
  const double sq_dev = fda::detail::dev::sketch(hashes, dev.data(), fda::view(dmv), fda::view(dmv0));
  CHECK(ref == dev);
  CHECK(sq_ref == sq_dev);
}

TEST_CASE("a NaN in device parameters gives the host's numeric_error from the policies") {
  const std::size_t n = 20'000;
  auto w = mixed_magnitude<float>(n, 61);
  const auto w0 = mixed_magnitude<float>(n, 62);
  w[12'345] = std::numeric_limits<float>::quiet_NaN();
  const auto dw = to_device(w), dw0 = to_device(w0);
  const fda::run_info info{.dim = n, .workers = 2};
  auto message = [](const auto& monitor, const auto& a, const auto& b) {
    std::vector<double> state(monitor.state_size());
    monitor.local_state(a, b, state);
    try {
      fda::check_local_state(monitor, "policy", 1, state, 7);
    } catch (const fda::numeric_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const fda::linear_fda::monitor<float> lh(fda::linear_fda{.theta = 1.0}, info);
  const fda::linear_fda::monitor<float, fda::device_space> ld(fda::linear_fda{.theta = 1.0}, info);
  CHECK_FALSE(message(lh, w, w0).empty());
  CHECK(message(ld, dw, dw0) == message(lh, w, w0));
  const fda::sketch_fda::monitor<float> sh(fda::sketch_fda{.theta = 1.0}, info);
  const fda::sketch_fda::monitor<float, fda::device_space> sd(fda::sketch_fda{.theta = 1.0}, info);
  CHECK_FALSE(message(sh, w, w0).empty());
  CHECK(message(sd, dw, dw0) == message(sh, w, w0));
  CHECK_FALSE(fda::all_finite(dw));
  CHECK(std::isnan(fda::sq_distance(dw, dw0)));
}

TEST_CASE("linear_fda and sketch_fda monitors on device parameters: the host's states and decisions") {
  const std::size_t n = 250'001, k = 3;
  const fda::run_info info{.dim = n, .workers = k, .seed = 5};
  const auto w0 = mixed_magnitude<float>(n, 70, 1.0);
  std::vector<std::vector<float>> w;
  for (std::size_t r = 0; r < k; ++r) {
    w.push_back(w0);
    const auto step = fda_test::gaussian<float>(n, 71 + r, 0.01);
    fda::axpy(1.0, step, w.back());
  }
  const auto dw0 = to_device(w0);
  std::vector<thrust::device_vector<float>> dw;
  for (const auto& x : w) dw.push_back(to_device(x));

  auto run = [&](auto& host, auto& device, double tolerance) {
    std::vector<double> sh(host.state_size(), 0.0), sd(device.state_size(), 0.0), one(host.state_size());
    for (std::size_t r = 0; r < k; ++r) {
      host.local_state(w[r], w0, one);
      for (std::size_t i = 0; i < one.size(); ++i) sh[i] += one[i];
      device.local_state(dw[r], dw0, one);
      for (std::size_t i = 0; i < one.size(); ++i) sd[i] += one[i];
    }
    CHECK(rel(sd[0], sh[0]) < 1e-13);
    for (std::size_t i = 1; i < sh.size(); ++i) CHECK(std::fabs(sd[i] - sh[i]) <= tolerance * std::sqrt(sh[0]));
    const auto dh = host.decide(sh, 1), dd = device.decide(sd, 1);
    CHECK(dd.sync == dh.sync);
    CHECK(rel(dd.estimate, dh.estimate) < 1e-9);
  };

  fda::linear_fda::monitor<float> lh(fda::linear_fda{.theta = 1e-3}, info);
  fda::linear_fda::monitor<float, fda::device_space> ld(fda::linear_fda{.theta = 1e-3}, info);
  run(lh, ld, 1e-12);  // the same random ξ, drawn on the host

  // A sync: the new model is the mean; ξ becomes the direction of the step, on the device.
  std::vector<float> mean(n, 0.0f);
  for (const auto& x : w) fda::axpy(1.0 / double(k), x, mean);
  const auto dmean = to_device(mean);
  lh.on_sync(mean, w0, {0.0, 1});
  ld.on_sync(dmean, dw0, {0.0, 1});
  run(lh, ld, 1e-6);  // ξ rounded to float by slightly different formulas on host and device

  fda::sketch_fda::monitor<float> sh(fda::sketch_fda{.theta = 1e-3}, info);
  fda::sketch_fda::monitor<float, fda::device_space> sd(fda::sketch_fda{.theta = 1e-3}, info);
  run(sh, sd, 1e-12);

  const fda::sketch_fda tiled{.theta = 1e-3, .sketch = fda::sketch_kind::tiled};
  fda::sketch_fda::monitor<float> th(tiled, info);
  fda::sketch_fda::monitor<float, fda::device_space> td(tiled, info);
  run(th, td, 0.0);  // the tiled sketch is bit for bit the host's
}

TEST_CASE("device kernels and sketches serve concurrent worker threads (scratch per thread, shared tables)") {
  const std::size_t n = 150'001, k = 4;
  const fda::detail::sketch_hashes hashes("test", 5, 250, 8);  // one set of tables for all
  std::vector<std::vector<float>> w;
  for (std::size_t r = 0; r < k; ++r) w.push_back(mixed_magnitude<float>(n + r, 80 + r));
  std::vector<std::vector<double>> serial(k), parallel(k);
  std::vector<double> serial_sq(k), parallel_sq(k);
  auto work = [&](std::size_t r, std::vector<double>& counters, double& sq) {
    const auto d = to_device(w[r]);
    counters.assign(5 * 250, 0.0);
    fda::detail::sketch_in_space(hashes, counters.data(), fda::view(d));
    sq = fda::sq_norm(d);
  };
  for (std::size_t r = 0; r < k; ++r) work(r, serial[r], serial_sq[r]);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < k; ++r) threads.emplace_back([&, r] { work(r, parallel[r], parallel_sq[r]); });
  for (auto& t : threads) t.join();
  CHECK(parallel == serial);
  CHECK(parallel_sq == serial_sq);
}

TEST_CASE("a failing device kernel raises fda::device_error naming it, and the process remembers the first") {
  const auto w = to_device(mixed_magnitude<float>(10'000, 91)), w0 = to_device(mixed_magnitude<float>(10'000, 92));
  const double before = fda::sq_distance(w, w0);
  auto message_of = [](auto f) -> std::string {
    try {
      f();
    } catch (const fda::device_error& e) {
      return e.what();
    }
    return "";
  };
  auto& fault = fda::detail::dev::injected_fault();
  fault = "sq_distance";  // the test switch of bench/gpu_check --inject-fault
  const std::string first = message_of([&] { (void)fda::sq_distance(w, w0); });
  fault = "sketch";
  const std::string second = message_of([&] { fda::ams_sketch<> s(5, 250, 1); s.add(w); });
  fault = nullptr;
  CHECK(first == "fda: the sq_distance kernel failed: injected fault (test switch)");
  CHECK(second == "fda: the sketch kernel failed: injected fault (test switch)");
  // The first error of the process is kept for terminate handlers (another test may have
  // raised one before: it names a kernel too).
  CHECK_THAT(fda::first_device_error(), Catch::Matchers::StartsWith("fda: the "));
  CHECK(fda::sq_distance(w, w0) == before);  // (the OpenMP back end has no sticky error)
}

TEST_CASE("device streams: a scope sets the calling thread's stream and restores it; scratch can be released") {
  CHECK(fda::current_device_stream() == nullptr);  // the default stream
  int a = 0, b = 0;  // (any address: the OpenMP back end accepts and ignores streams)
  {
    fda::device_stream_scope outer(&a);
    CHECK(fda::current_device_stream() == static_cast<fda::device_stream>(&a));
    {
      fda::device_stream_scope inner(&b);
      CHECK(fda::current_device_stream() == static_cast<fda::device_stream>(&b));
      std::thread([] { CHECK(fda::current_device_stream() == nullptr); }).join();  // per thread
    }
    CHECK(fda::current_device_stream() == static_cast<fda::device_stream>(&a));
  }
  CHECK(fda::current_device_stream() == nullptr);
  const auto v = to_device(mixed_magnitude<double>(50'000, 93));
  const double norm = fda::sq_norm(v);
  fda::release_device_scratch();
  CHECK(fda::sq_norm(v) == norm);  // allocated again
}

TEST_CASE("the device sketch in waves of blocks (a bounded scratch) is the one-wave sketch bit for bit") {
  const auto w = mixed_magnitude<float>(1'000'003, 94), w0 = mixed_magnitude<float>(1'000'003, 95);
  const auto dw = to_device(w), dw0 = to_device(w0);
  auto sketch = [&](std::size_t depth, std::size_t width) {
    const fda::detail::sketch_hashes hashes("waves", depth, width, 3);
    std::vector<double> counters(depth * width, 0.0);
    counters.push_back(fda::detail::sketch_in_space(hashes, counters.data(), fda::view(dw), fda::view(dw0)));
    return counters;
  };
  auto& limit = fda::detail::dev::sketch_scratch_limit();
  for (const auto& [depth, width] : {std::pair{5, 250}, std::pair{7, 3000}}) {
    const auto one_wave = sketch(depth, width);
    const std::size_t saved = limit.exchange(100'000);  // a few blocks per wave
    const auto waves = sketch(depth, width);
    limit = saved;
    CHECK(waves == one_wave);
    std::vector<double> reference(depth * width, 0.0);
    const fda::detail::sketch_hashes hashes("waves", depth, width, 3);
    reference.push_back(fda::detail::dev::sketch_reference(hashes, reference.data(), fda::view(w), fda::view(w0)));
    CHECK(waves == reference);
  }
}

// SPDX-License-Identifier: Apache-2.0
#pragma once
/// How a labelled training set is split among K workers (docs/algorithm.md: Data splits). Standard library
/// only. Every scheme takes the labels, K and a seed, and returns each worker's example
/// indices, ascending (the trainer shuffles them per epoch). Each result is a partition:
/// every example at exactly one worker, and no worker empty; where a scheme cannot give
/// that (K > n; shards with 2K > n; label with too few examples of other labels) it throws
/// fda::invalid_argument naming the scheme, K and the count that falls short, since a
/// worker without data cannot draw a batch. No scheme drops examples.
///
/// Same seed, same split, on every platform: the draws come from std::mt19937_64 (whose
/// output the standard fixes) through the integer Fisher–Yates and bounded draws below,
/// never through `<random>`'s distributions or std::shuffle, which differ between standard
/// libraries. The exception is dirichlet's shares, which go through `std::log`, `std::exp`:
/// a libm that rounds differently in the last place could, in rare ties, move an example.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"

namespace fda::data {

/// How many workers hold label L under partition_label: max(1, K/8), so one worker in
/// eight (at least one) sees L at all — 1 of 10, 2 of 16, 12 of 100.
constexpr std::size_t label_workers(std::size_t workers) { return std::max<std::size_t>(1, workers / 8); }

namespace detail {

/// Portable random draws on top of std::mt19937_64.
class rng {
 public:
  explicit rng(std::uint64_t seed) : engine_(seed) {}

  std::uint64_t next() { return engine_(); }

  /// Uniform on [0, n) for n > 0, unbiased: Lemire's multiply-shift, rejecting the
  /// 2^64 mod n low products that would favour some results (Lemire 2019).
  std::uint64_t below(std::uint64_t n) {
    __extension__ using u128 = unsigned __int128;
    u128 m = u128(next()) * n;
    if (std::uint64_t(m) < n) {
      const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
      while (std::uint64_t(m) < threshold) m = u128(next()) * n;
    }
    return std::uint64_t(m >> 64);
  }

  /// Uniform on the open (0, 1): 53 bits, offset half a step so that log() is finite.
  double open01() { return (double(next() >> 11) + 0.5) * 0x1p-53; }

  /// Standard normal (Marsaglia's polar method; the second value of a pair is kept).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {
      u = 2 * open01() - 1;
      v = 2 * open01() - 1;
      s = u * u + v * v;
    } while (s >= 1);
    const double f = std::sqrt(-2 * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }

  /// log of a Gamma(a, 1) draw, a > 0 (Marsaglia & Tsang 2000). Logs, because for small a
  /// the draws themselves underflow: Gamma(0.01) is below 1e-300 about a tenth of the time.
  double log_gamma(double a) {
    if (a < 1) return log_gamma(a + 1) + std::log(open01()) / a;  // G(a) = G(a+1)·U^(1/a)
    const double d = a - 1.0 / 3, c = 1 / std::sqrt(9 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = open01();
      if (u < 1 - 0.0331 * (x * x) * (x * x) || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v)))
        return std::log(d * v);
    }
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0;
  bool has_spare_ = false;
};

/// Fisher–Yates with rng::below: the same permutation on every platform.
template <class T>
void shuffle(std::vector<T>& v, rng& g) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[g.below(i)]);
}

inline std::vector<std::size_t> iota(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), std::size_t{0});
  return v;
}

/// Sizes of K near-equal pieces of n: the first n mod K pieces get one more.
inline std::vector<std::size_t> even_sizes(std::size_t n, std::size_t k) {
  std::vector<std::size_t> sizes(k, n / k);
  for (std::size_t i = 0; i < n % k; ++i) ++sizes[i];
  return sizes;
}

/// Cuts `items` into consecutive pieces of `sizes` and appends piece i to out[i].
inline void deal(std::span<const std::size_t> items, std::span<const std::size_t> sizes,
                 std::vector<std::vector<std::size_t>>& out) {
  auto from = items.begin();
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto to = from + std::ptrdiff_t(sizes[i]);
    out[i].insert(out[i].end(), from, to);
    from = to;
  }
}

/// Indices stably sorted by label: within a label they keep the order they came in.
inline void sort_by_label(std::vector<std::size_t>& idx, std::span<const std::uint8_t> labels) {
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return labels[a] < labels[b]; });
}

inline std::vector<std::vector<std::size_t>> ascending(std::vector<std::vector<std::size_t>> parts) {
  for (auto& p : parts) std::sort(p.begin(), p.end());
  return parts;
}

inline void require_workers(const char* where, std::size_t examples, std::size_t workers) {
  if (workers < 1) fda::detail::fail(where, ": K = 0 workers is invalid: it must be >= 1");
  if (workers > examples)
    fda::detail::fail(where, ": K = ", workers, " workers but only ", examples,
                      " examples: every worker needs at least one");
}

}  // namespace detail

/// IID: a seeded shuffle cut into K near-equal shards (sizes differ by at most 1).
inline std::vector<std::vector<std::size_t>> partition_iid(std::span<const std::uint8_t> labels, std::size_t workers,
                                                           std::uint64_t seed) {
  detail::require_workers("fda::data::partition_iid", labels.size(), workers);
  detail::rng g(seed);
  auto idx = detail::iota(labels.size());
  detail::shuffle(idx, g);
  std::vector<std::vector<std::size_t>> out(workers);
  detail::deal(idx, detail::even_sizes(idx.size(), workers), out);
  return detail::ascending(std::move(out));
}

/// Sorted fraction β: round(β·n) examples, chosen at random, are sorted by label and cut
/// into K contiguous pieces; the rest is shuffled and cut into K pieces; worker k gets
/// piece k of each. The pieces are sized so that worker sizes differ by at most 1.
inline std::vector<std::vector<std::size_t>> partition_sorted(std::span<const std::uint8_t> labels,
                                                              std::size_t workers, double beta, std::uint64_t seed) {
  detail::require_workers("fda::data::partition_sorted", labels.size(), workers);
  if (!(beta >= 0 && beta <= 1)) fda::detail::fail("fda::data::partition_sorted: beta = ", beta, " must be in [0, 1]");
  const std::size_t n = labels.size();
  const auto m = std::min(n, std::size_t(std::floor(beta * double(n) + 0.5)));
  detail::rng g(seed);
  auto idx = detail::iota(n);
  detail::shuffle(idx, g);
  std::vector<std::size_t> sorted(idx.begin(), idx.begin() + std::ptrdiff_t(m));
  const std::span<const std::size_t> rest(idx.begin() + std::ptrdiff_t(m), idx.end());
  detail::sort_by_label(sorted, labels);
  // Sorted pieces of ⌊m/K⌋ or +1, and rest pieces that top each worker up to ⌊n/K⌋ or +1:
  // never negative, since m ≤ n gives ⌊m/K⌋ ≤ ⌊n/K⌋ and, if they are equal, m mod K ≤ n mod K.
  const auto total = detail::even_sizes(n, workers);
  const auto sorted_sizes = detail::even_sizes(m, workers);
  std::vector<std::size_t> rest_sizes(workers);
  for (std::size_t k = 0; k < workers; ++k) rest_sizes[k] = total[k] - sorted_sizes[k];
  std::vector<std::vector<std::size_t>> out(workers);
  detail::deal(sorted, sorted_sizes, out);
  detail::deal(rest, rest_sizes, out);
  return detail::ascending(std::move(out));
}

/// One concentrated label: the examples of `label` are shuffled and split evenly among
/// label_workers(K) = max(1, K/8) workers chosen at random; all other examples are split
/// IID among all K workers. So the chosen workers hold more data than the others (about
/// count(L)/label_workers(K) more). Throws if no example has that label, and if a worker
/// would get no example at all: with fewer than K examples of other labels, a worker that
/// holds no L may get none of them (which ones is up to the seed). It throws rather than
/// moving examples, so that every split this scheme made before stays the same; K examples
/// of other labels always suffice.
inline std::vector<std::vector<std::size_t>> partition_label(std::span<const std::uint8_t> labels, std::size_t workers,
                                                             unsigned label, std::uint64_t seed) {
  detail::require_workers("fda::data::partition_label", labels.size(), workers);
  detail::rng g(seed);
  auto idx = detail::iota(labels.size());
  detail::shuffle(idx, g);
  std::vector<std::size_t> with, without;
  for (const std::size_t i : idx) (labels[i] == label ? with : without).push_back(i);
  if (with.empty())
    fda::detail::fail("fda::data::partition_label: label ", label, " does not occur in the ", labels.size(),
                      " labels");
  auto holders = detail::iota(workers);
  detail::shuffle(holders, g);
  holders.resize(label_workers(workers));
  std::vector<std::vector<std::size_t>> out(workers), concentrated(holders.size());
  const auto concentrated_sizes = detail::even_sizes(with.size(), holders.size());
  detail::deal(with, concentrated_sizes, concentrated);
  for (std::size_t j = 0; j < holders.size(); ++j) out[holders[j]] = std::move(concentrated[j]);
  const auto spread_sizes = detail::even_sizes(without.size(), workers);
  detail::deal(without, spread_sizes, out);
  const auto empty = std::count_if(out.begin(), out.end(), [](const auto& p) { return p.empty(); });
  if (empty != 0)
    fda::detail::fail("fda::data::partition_label: K = ", workers, " workers with label ", label, " would leave ", empty,
                      " of them empty: label ", label, " (", with.size(), " of the ", labels.size(),
                      " examples) goes to label_workers(K) = ", holders.size(), " of them, and the other labels' ",
                      without.size(), " examples, dealt IID, give the others at most one each; it needs at least K = ",
                      workers, " examples of labels other than ", label, " (it has ", without.size(), ")");
  return detail::ascending(std::move(out));
}

/// Dirichlet α: for every label, shares p ~ Dir(α) over the K workers; the label's
/// examples (shuffled) go to the workers in runs of p_k·n_label, rounded by largest
/// remainder. α = 0.1 is highly skewed, α → ∞ approaches IID; an α so small that the
/// Gamma draws overflow even in logs (below ~1e-307) puts each label on one random worker. A worker left empty takes
/// one example from the largest worker (ties: the lowest rank), repeated until none is
/// empty — always possible since K ≤ n, and it moves at most K - 1 examples.
inline std::vector<std::vector<std::size_t>> partition_dirichlet(std::span<const std::uint8_t> labels,
                                                                 std::size_t workers, double alpha,
                                                                 std::uint64_t seed) {
  detail::require_workers("fda::data::partition_dirichlet", labels.size(), workers);
  if (!(std::isfinite(alpha) && alpha > 0))
    fda::detail::fail("fda::data::partition_dirichlet: alpha = ", alpha, " must be a finite number > 0");
  detail::rng g(seed);
  std::vector<std::vector<std::size_t>> by_label(256), out(workers);
  for (std::size_t i = 0; i < labels.size(); ++i) by_label[labels[i]].push_back(i);
  std::vector<double> share(workers);
  std::vector<std::size_t> sizes(workers), order(workers);
  for (auto& members : by_label) {
    if (members.empty()) continue;
    detail::shuffle(members, g);
    // Dir(α) = normalized Gamma(α) draws, normalized in logs so none underflows to 0/0.
    for (auto& s : share) s = g.log_gamma(alpha);
    const double top = *std::max_element(share.begin(), share.end());
    double sum = 0;
    if (std::isfinite(top)) {
      for (auto& s : share) sum += (s = std::exp(s - top));
    } else {
      // α so small (~1e-308) that even the logs overflow: log U / α = -inf for every
      // worker. Dir(α) is then, to double precision, all the mass on one worker, the same
      // one for every draw by symmetry: pick it uniformly among the top ones.
      std::size_t tied = 0;
      for (const double s : share) tied += s == top;
      const std::size_t pick = g.below(tied);
      std::size_t seen = 0;
      for (auto& s : share) s = s == top && seen++ == pick ? 1.0 : 0.0;
      sum = 1;
    }
    const auto n = double(members.size());
    std::size_t given = 0;
    for (std::size_t k = 0; k < workers; ++k) {
      share[k] = share[k] / sum * n;
      sizes[k] = std::min(members.size() - given, std::size_t(share[k]));
      given += sizes[k];
      share[k] -= double(sizes[k]);  // the remainder decides who gets the leftovers
    }
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return share[a] > share[b]; });
    for (std::size_t j = 0; given < members.size(); j = (j + 1) % workers, ++given) ++sizes[order[j]];
    detail::deal(members, sizes, out);
  }
  const auto smaller = [](const auto& a, const auto& b) { return a.size() < b.size(); };
  for (auto& part : out) {
    if (!part.empty()) continue;
    auto& largest = *std::max_element(out.begin(), out.end(), smaller);  // >= 2 examples while one is empty
    part.push_back(largest.back());
    largest.pop_back();
  }
  return detail::ascending(std::move(out));
}

/// Shards (McMahan et al. 2017): sort by label (shuffled within a label), cut into 2K
/// contiguous near-equal shards (sizes ⌊n/2K⌋ or +1: nothing is dropped), and give each
/// worker two shards at random. Needs 2K ≤ n. A shard no larger than the smallest class
/// spans at most 2 labels, so a worker then sees at most 4.
inline std::vector<std::vector<std::size_t>> partition_shards(std::span<const std::uint8_t> labels,
                                                              std::size_t workers, std::uint64_t seed) {
  detail::require_workers("fda::data::partition_shards", labels.size(), workers);
  if (2 * workers > labels.size())
    fda::detail::fail("fda::data::partition_shards: K = ", workers, " workers need 2K = ", 2 * workers,
                      " shards but there are only ", labels.size(), " examples");
  detail::rng g(seed);
  auto idx = detail::iota(labels.size());
  detail::shuffle(idx, g);
  detail::sort_by_label(idx, labels);
  std::vector<std::vector<std::size_t>> shards(2 * workers), out(workers);
  detail::deal(idx, detail::even_sizes(idx.size(), 2 * workers), shards);
  auto order = detail::iota(2 * workers);
  detail::shuffle(order, g);
  for (std::size_t k = 0; k < workers; ++k) {
    out[k] = std::move(shards[order[2 * k]]);
    out[k].insert(out[k].end(), shards[order[2 * k + 1]].begin(), shards[order[2 * k + 1]].end());
  }
  return detail::ascending(std::move(out));
}

/// The partition schemes of docs/algorithm.md: Data splits, as parse_partition names them.
enum class partition_scheme {
  iid,        ///< seeded shuffle, K near-equal shards
  sorted,     ///< a fraction β sorted by label, the rest IID
  label,      ///< one label concentrated on max(1, K/8) workers
  dirichlet,  ///< per-label shares ~ Dir(α)
  shards      ///< McMahan et al.: 2K label-sorted shards, two per worker
};

/// A parsed CLI partition: the scheme and its one parameter (unused ones stay 0).
struct partition_spec {
  partition_scheme scheme = partition_scheme::iid;  ///< which scheme
  double beta = 0;     ///< sorted: the fraction of the set that is sorted, in [0, 1]
  unsigned label = 0;  ///< label: the concentrated label, 0..255
  double alpha = 0;    ///< dirichlet: the concentration, > 0

  /// Equal scheme and parameters.
  friend bool operator==(const partition_spec&, const partition_spec&) = default;
};

/// Parses `iid | sorted:β | label:L | dirichlet:α | shards`; throws fda::invalid_argument
/// quoting the text and saying what is wrong.
inline partition_spec parse_partition(std::string_view text) {
  auto bad = [&](const auto&... why) {
    fda::detail::fail("fda::data::parse_partition: \"", text, "\": ", why...,
                      " (expected iid | sorted:beta | label:L | dirichlet:alpha | shards)");
  };
  const std::size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  const bool has_arg = colon != std::string_view::npos;
  const std::string_view arg = has_arg ? text.substr(colon + 1) : std::string_view{};
  auto number = [&](const char* what) {
    if (!has_arg || arg.empty()) bad(name, " needs a parameter: ", name, ":", what);
    double v = 0;
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), v);
    if (ec != std::errc{} || end != arg.data() + arg.size() || !std::isfinite(v))
      bad(what, " = \"", arg, "\" is not a number");
    return v;
  };
  partition_spec spec;
  if (name == "iid" || name == "shards") {
    if (has_arg) bad(name, " takes no parameter");
    spec.scheme = name == "iid" ? partition_scheme::iid : partition_scheme::shards;
  } else if (name == "sorted") {
    spec.scheme = partition_scheme::sorted;
    spec.beta = number("beta");
    if (!(spec.beta >= 0 && spec.beta <= 1)) bad("beta = ", spec.beta, " is outside [0, 1]");
  } else if (name == "dirichlet") {
    spec.scheme = partition_scheme::dirichlet;
    spec.alpha = number("alpha");
    if (!(spec.alpha > 0)) bad("alpha = ", spec.alpha, " must be > 0");
  } else if (name == "label") {
    spec.scheme = partition_scheme::label;
    if (!has_arg || arg.empty()) bad("label needs a parameter: label:L");
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), spec.label);
    if (ec == std::errc::invalid_argument || end != arg.data() + arg.size())
      bad("L = \"", arg, "\" is not an integer");
    if (ec != std::errc{} || spec.label > 255) bad("L = ", arg, " is not a label: labels are 0..255");
  } else {
    bad("unknown scheme \"", name, "\"");
  }
  return spec;
}

/// The CLI text of a spec, which parse_partition reads back to the same spec.
inline std::string to_string(const partition_spec& spec) {
  auto num = [](double v) {
    char buf[32];
    return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  };
  switch (spec.scheme) {
    case partition_scheme::iid: return "iid";
    case partition_scheme::sorted: return "sorted:" + num(spec.beta);
    case partition_scheme::label: return "label:" + std::to_string(spec.label);
    case partition_scheme::dirichlet: return "dirichlet:" + num(spec.alpha);
    case partition_scheme::shards: return "shards";
  }
  return "?";
}

/// Runs the scheme `spec` names.
inline std::vector<std::vector<std::size_t>> make_partition(const partition_spec& spec,
                                                            std::span<const std::uint8_t> labels,
                                                            std::size_t workers, std::uint64_t seed) {
  switch (spec.scheme) {
    case partition_scheme::iid: return partition_iid(labels, workers, seed);
    case partition_scheme::sorted: return partition_sorted(labels, workers, spec.beta, seed);
    case partition_scheme::label: return partition_label(labels, workers, spec.label, seed);
    case partition_scheme::dirichlet: return partition_dirichlet(labels, workers, spec.alpha, seed);
    case partition_scheme::shards: return partition_shards(labels, workers, seed);
  }
  fda::detail::fail("fda::data::make_partition: unknown scheme ", int(spec.scheme));
}

}  // namespace fda::data

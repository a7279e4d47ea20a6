// SPDX-License-Identifier: Apache-2.0
#include <fda/callbacks.hpp>
#include <fda/comm/simulated_network.hpp>
#include <fda/fda.hpp>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <locale>
#include <map>
#include <sstream>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "least_squares.hpp"

namespace {

constexpr double qnan = std::numeric_limits<double>::quiet_NaN();

std::size_t count(const std::string& s, char c) {
  return std::size_t(std::count(s.begin(), s.end(), c));
}

/// A tiny JSON reader: checks that text is one well-formed value (RFC 8259 grammar) and
/// decodes strings (\uXXXX below 0x80 only, which is all json_string writes).
struct json_reader {
  std::string_view s;
  std::size_t i = 0;

  bool document() { return value() && (ws(), i == s.size()); }

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
  }
  bool eat(char c) { return ws(), i < s.size() && s[i] == c ? (++i, true) : false; }
  bool word(std::string_view w) {
    ws();
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  bool value() {
    ws();
    if (i >= s.size()) return false;
    if (s[i] == '{') return members('}', true);
    if (s[i] == '[') return members(']', false);
    if (s[i] == '"') return string(nullptr);
    if (word("true") || word("false") || word("null")) return true;
    return number();
  }
  bool members(char close, bool object) {
    ++i;
    if (eat(close)) return true;
    do {
      if (object && !(ws(), string(nullptr) && eat(':'))) return false;
      if (!value()) return false;
    } while (eat(','));
    return eat(close);
  }
  bool number() {
    const std::size_t start = i;
    auto digits = [&] {
      const std::size_t from = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      return i > from;
    };
    if (i < s.size() && s[i] == '-') ++i;
    if (i < s.size() && s[i] == '0')
      ++i;
    else if (!digits())
      return false;
    if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (!digits()) return false;
    }
    return i > start;
  }
  bool string(std::string* out) {
    if (i >= s.size() || s[i++] != '"') return false;
    while (i < s.size() && s[i] != '"') {
      char c = s[i++];
      if (static_cast<unsigned char>(c) < 0x20) return false;  // must have been escaped
      if (c == '\\') {
        if (i >= s.size()) return false;
        const char e = s[i++];
        const std::string_view simple = "\"\\/bfnrt", meaning = "\"\\/\b\f\n\r\t";
        if (const auto k = simple.find(e); k != std::string_view::npos) {
          c = meaning[k];
        } else if (e == 'u' && i + 4 <= s.size()) {
          c = char(std::stoi(std::string(s.substr(i, 4)), nullptr, 16));
          i += 4;
        } else {
          return false;
        }
      }
      if (out) *out += c;
    }
    return i++ < s.size();
  }
};

bool valid_json(std::string_view text) { return json_reader{text}.document(); }

/// A locale that writes 96000 as 96'000 through operator<<.
struct grouping : std::numpunct<char> {
  char do_thousands_sep() const override { return '\''; }
  std::string do_grouping() const override { return "\3"; }
};

fda::step_info step(std::size_t k, std::size_t total) {
  return {.step = k,
          .total_steps = total,
          .syncs = k / 10,
          .monitor_bytes = 8 * k,
          .sync_bytes = 1000 * (k / 10),
          .synced = k % 10 == 0,
          .estimate = 0.1,
          .theta = 0.5,
          .wall_seconds = 0.1 * double(k)};
}

}  // namespace

TEST_CASE("human_bytes: decimal units (1 KB = 1000 B), 3 significant digits") {
  using fda::detail::human_bytes;
  CHECK(human_bytes(0) == "0 B");
  CHECK(human_bytes(999) == "999 B");
  CHECK(human_bytes(1000) == "1.00 KB");
  CHECK(human_bytes(1536) == "1.54 KB");
  CHECK(human_bytes(15360) == "15.4 KB");
  CHECK(human_bytes(153600) == "154 KB");
  CHECK(human_bytes(9995) == "10.0 KB");
  CHECK(human_bytes(999'499) == "999 KB");
  CHECK(human_bytes(999'500) == "1.00 MB");  // not "1000 KB"
  CHECK(human_bytes(12'345'678) == "12.3 MB");
  CHECK(human_bytes(2'500'000'000) == "2.50 GB");
  CHECK(human_bytes(5'000'000'000'000) == "5000 GB");
}

TEST_CASE("clock_time: m:ss, h:mm:ss, unknown") {
  using fda::detail::clock_time;
  CHECK(clock_time(0) == "0:00");
  CHECK(clock_time(75.4) == "1:15");
  CHECK(clock_time(3725) == "1:02:05");
  CHECK(clock_time(qnan) == "--:--");
  CHECK(clock_time(-1) == "--:--");
}

TEST_CASE("progress_bar, lines style: one plain line per tenth of the run") {
  std::ostringstream out;
  fda::progress_bar bar("linear", out, fda::progress_bar::style::lines);
  for (std::size_t k = 1; k <= 100; ++k) bar.on_step(step(k, 100));
  bar.on_end(fda::result{});
  const std::string text = out.str();
  CHECK(count(text, '\n') == 10);
  CHECK(count(text, '\r') == 0);
  CHECK(text.find("linear  50/100  50%  syncs 5  5.40 KB  Θ 0.5  0:05 eta 0:05\n") !=
        std::string::npos);
  CHECK(text.find("100/100  100%") != std::string::npos);

  SECTION("never more often than every tenth, even for a long run") {
    std::ostringstream long_out;
    fda::progress_bar long_bar({}, long_out, fda::progress_bar::style::lines);
    for (std::size_t k = 1; k <= 12345; ++k) long_bar.on_step(step(k, 12345));
    long_bar.on_end(fda::result{});
    CHECK(count(long_out.str(), '\n') == 10);
  }
  SECTION("a run stopped early still shows where it stopped") {
    std::ostringstream short_out;
    fda::progress_bar short_bar({}, short_out, fda::progress_bar::style::lines);
    for (std::size_t k = 1; k <= 29; ++k) short_bar.on_step(step(k, 100));
    short_bar.on_end(fda::result{});
    CHECK(count(short_out.str(), '\n') == 3);
    CHECK(short_out.str().find("29/100  29%") != std::string::npos);  // not 28%: 0.29·100 < 29
  }
  SECTION("on_begin starts afresh") {
    bar.on_begin(fda::run_info{});
    out.str({});
    for (std::size_t k = 1; k <= 100; ++k) bar.on_step(step(k, 100));
    CHECK(count(out.str(), '\n') == 10);
  }
}

TEST_CASE("progress_bar, terminal style: one line redrawn in place") {
  std::ostringstream out;
  fda::progress_bar bar("fedavg", out, fda::progress_bar::style::terminal);
  auto s = step(0, 100);
  s.theta = qnan;  // no Θ shown for schedules
  for (std::size_t k = 1; k <= 100; ++k) {
    s.step = k;
    bar.on_step(s);
  }
  const std::string before_end = out.str();
  CHECK(before_end.front() == '\r');
  CHECK(count(before_end, '\n') == 0);
  CHECK(count(before_end, '\r') <= 3);  // rate-limited: the first, the last, maybe one between
  bar.on_end(fda::result{});
  const std::string text = out.str();
  REQUIRE(text.back() == '\n');
  std::string last = text.substr(text.rfind('\r') + 1);
  last.erase(last.find_last_not_of(" \n") + 1);  // the padding that wiped a longer line
  CHECK(last == "fedavg  [####################]  100/100  100%  syncs 0  0 B  0:00");
  CHECK(text.find("Θ") == std::string::npos);
}

TEST_CASE("progress_bar, automatic style: lines unless writing to a terminal's stderr") {
  std::ostringstream out;
  CHECK(fda::progress_bar({}, out).output_style() == fda::progress_bar::style::lines);
  const auto on_cerr = fda::progress_bar().output_style();
  CHECK((on_cerr == (fda::detail::stderr_is_terminal() ? fda::progress_bar::style::terminal
                                                       : fda::progress_bar::style::lines)));
}

TEST_CASE("csv_logger: one row per epoch, exact text") {
  std::ostringstream out;
  fda::csv_logger log(out, "linear_fda", 4);
  fda::epoch_info<float> e1{.epoch = 1,
                            .step = 100,
                            .total_steps = 200,
                            .syncs = 3,
                            .monitor_bytes = 800,
                            .sync_bytes = 96000,
                            .theta = 0.5,
                            .wall_seconds = 1.25,
                            .averaged_model = {},
                            .metrics = {{"test_accuracy", 0.75}, {"train_loss", 0.1}, {"x", 7}}};
  fda::epoch_info<float> e2{.epoch = 2,
                            .step = 200,
                            .total_steps = 200,
                            .syncs = 5,
                            .monitor_bytes = 1600,
                            .sync_bytes = 160000,
                            .theta = qnan,
                            .wall_seconds = 2.5,
                            .averaged_model = {},
                            .metrics = {{"test_accuracy", 0.875}},
                            .network_seconds = 0.125};
  log.on_epoch(e1);
  log.on_epoch(e2);
  CHECK(out.str() ==
        "policy,theta,workers,epoch,steps,syncs,monitor_bytes,sync_bytes,total_bytes,"
        "test_accuracy,train_loss,wall_seconds,seed,theta_configured,network_seconds\n"
        "linear_fda,0.5,4,1,100,3,800,96000,96800,0.75,0.1,1.25,,,0\n"
        "linear_fda,,4,2,200,5,1600,160000,161600,0.875,,2.5,,,0.125\n");
  CHECK(fda::csv_logger::header() ==
        "policy,theta,workers,epoch,steps,syncs,monitor_bytes,sync_bytes,total_bytes,"
        "test_accuracy,train_loss,wall_seconds,seed,theta_configured,network_seconds");

  SECTION("the run's seed and configured theta in every row") {
    std::ostringstream swept;
    fda::csv_logger s(swept, "linear_fda", 4, true, {.seed = 18446744073709551615u, .theta_configured = "adaptive"});
    s.on_epoch(e1);
    s.on_epoch(e2);
    CHECK(swept.str() == fda::csv_logger::header() + "\n" +
                             "linear_fda,0.5,4,1,100,3,800,96000,96800,0.75,0.1,1.25,18446744073709551615,adaptive,0\n"
                             "linear_fda,,4,2,200,5,1600,160000,161600,0.875,,2.5,18446744073709551615,adaptive,0.125\n");
    std::ostringstream zero;
    fda::csv_logger z(zero, "linear_fda", 4, false, {.seed = 0, .theta_configured = "0.5,x"});
    z.on_epoch(e1);
    CHECK(zero.str() == "linear_fda,0.5,4,1,100,3,800,96000,96800,0.75,0.1,1.25,0,\"0.5,x\",0\n");
  }

  SECTION("no header when appending; RFC 4180 quoting of the policy") {
    std::ostringstream quoted;
    fda::csv_logger q(quoted, "sketch_fda(d=5,w=250) \"big\"", 2, false);
    CHECK(quoted.str().empty());
    q.on_epoch(e2);
    CHECK(quoted.str() ==
          "\"sketch_fda(d=5,w=250) \"\"big\"\"\",,2,2,200,5,1600,160000,161600,0.875,,2.5,,,0.125\n");
  }
  SECTION("a locale that groups digits changes nothing") {
    std::ostringstream grouped;
    grouped.imbue(std::locale(std::locale::classic(), new grouping));
    grouped << 96000;
    REQUIRE(grouped.str() == "96'000");
    grouped.str({});
    fda::csv_logger g(grouped, "linear_fda", 4, false);
    g.on_epoch(e1);
    CHECK(grouped.str() == "linear_fda,0.5,4,1,100,3,800,96000,96800,0.75,0.1,1.25,,,0\n");
  }
  SECTION("a run with no epoch leaves a header-only file") {
    std::ostringstream empty;
    fda::csv_logger e(empty, "periodic", 1);
    CHECK(empty.str() == fda::csv_logger::header() + "\n");
  }
}

TEST_CASE("json_number and json_string") {
  using fda::detail::json_number;
  using fda::detail::json_string;
  CHECK(json_number(0.1) == "0.1");
  CHECK(json_number(3) == "3");
  CHECK(json_number(1e300) == "1e+300");
  CHECK(json_number(qnan) == "null");
  CHECK(json_number(std::numeric_limits<double>::infinity()) == "null");
  CHECK(json_number(-std::numeric_limits<double>::infinity()) == "null");
  CHECK(json_string("a\"b\\c\nd\te\x01"
                    "f\x1f") == R"("a\"b\\c\nd\te\u0001f\u001f")");
  CHECK(json_string("Θ/é") == "\"Θ/é\"");

  std::string every;
  for (int c = 1; c < 128; ++c) every += char(c);
  const std::string quoted = json_string(every);
  json_reader r{quoted};
  std::string back;
  REQUIRE(r.string(&back));
  CHECK(r.i == quoted.size());
  CHECK(back == every);
  for (const char* n : {"0.1", "3", "1e+300", "-2.5e-07", "null"}) CHECK(valid_json(n));
  CHECK_FALSE(valid_json("qnan"));
  CHECK_FALSE(valid_json("{\"a\":1,}"));
}

TEST_CASE("json_summary: one JSON object per run") {
  fda::result r;
  r.steps = 120;
  r.syncs = 2;
  r.checks = 120;
  r.monitor_bytes = 960;
  r.sync_bytes = 64000;
  r.wall_seconds = 1.5;
  r.final_theta = qnan;
  r.stopped_by_callback = true;
  r.sync_log = {{.step = 40, .estimate = 0.625, .variance = 0.5, .theta = 0.5},
                {.step = 100, .estimate = qnan, .variance = 0.25, .theta = qnan}};
  r.faults = {{.step = 7, .worker = 2, .message = "x"}};
  r.notes = {"K = 1: \"alone\""};
  std::ostringstream out;
  fda::json_summary summary(out, "fedavg \"iid\"\n");
  summary.on_end(r);
  const std::string text = out.str();
  CHECK(text ==
        R"({"label":"fedavg \"iid\"\n","steps":120,"syncs":2,"checks":120,"monitor_bytes":960,)"
        R"("sync_bytes":64000,"total_bytes":64960,"wall_seconds":1.5,"final_theta":null,)"
        R"("stopped_by_callback":true,"faults":1,"notes":["K = 1: \"alone\""],)"
        R"("sync_log":[{"step":40,"estimate":0.625,"variance":0.5,)"
        R"("theta":0.5},{"step":100,"estimate":null,"variance":0.25,"theta":null}]})"
        "\n");
  CHECK(valid_json(text));

  std::ostringstream grouped;
  grouped.imbue(std::locale(std::locale::classic(), new grouping));
  fda::json_summary(grouped, "fedavg \"iid\"\n").on_end(r);
  CHECK(grouped.str() == text);

  std::ostringstream empty_out;
  fda::json_summary empty(empty_out, "");
  empty.on_end(fda::result{});
  CHECK(valid_json(empty_out.str()));
  CHECK(empty_out.str().find("\"sync_log\":[]}") != std::string::npos);
}

TEST_CASE("stop_at_target") {
  fda::epoch_info<float> e{.epoch = 3,
                           .step = 300,
                           .total_steps = 1000,
                           .syncs = 7,
                           .monitor_bytes = 2400,
                           .sync_bytes = 56000,
                           .theta = 0.5,
                           .wall_seconds = 4.5,
                           .averaged_model = {},
                           .metrics = {},
                           .network_seconds = 0.75};

  SECTION("higher is better: stops at value >= target, records the first time") {
    fda::stop_at_target stop{.target = 0.8};
    e.metrics["test_accuracy"] = 0.79;
    CHECK_FALSE(stop.on_epoch(e));
    CHECK_FALSE(stop.reached);
    e.metrics["test_accuracy"] = 0.8;
    CHECK(stop.on_epoch(e));
    REQUIRE(stop.reached);
    CHECK(stop.reached->epoch == 3);
    CHECK(stop.reached->step == 300);
    CHECK(stop.reached->syncs == 7);
    CHECK(stop.reached->monitor_bytes == 2400);
    CHECK(stop.reached->sync_bytes == 56000);
    CHECK(stop.reached->total_bytes == 58400);
    CHECK(stop.reached->wall_seconds == 4.5);
    CHECK(stop.reached->network_seconds == 0.75);
    CHECK(stop.reached->value == 0.8);
    e.epoch = 4;
    e.metrics["test_accuracy"] = 0.9;
    CHECK(stop.on_epoch(e));
    CHECK(stop.reached->epoch == 3);
    stop.on_begin(fda::run_info{});
    CHECK_FALSE(stop.reached);
  }
  SECTION("lower is better: stops at value <= target") {
    fda::stop_at_target stop{.metric = "train_loss", .target = 0.3, .higher_is_better = false};
    e.metrics["train_loss"] = 0.31;
    CHECK_FALSE(stop.on_epoch(e));
    e.metrics["train_loss"] = 0.25;
    CHECK(stop.on_epoch(e));
    REQUIRE(stop.reached);
    CHECK(stop.reached->value == 0.25);
  }
  SECTION("an absent or NaN metric does nothing") {
    fda::stop_at_target stop{.target = 0};
    e.metrics["train_loss"] = 0.1;
    CHECK_FALSE(stop.on_epoch(e));
    e.metrics["test_accuracy"] = qnan;
    CHECK_FALSE(stop.on_epoch(e));
    CHECK_FALSE(stop.reached);
  }
}

TEST_CASE("evaluate_average") {
  const std::vector<float> model{1, 2, 3, 4};
  fda::epoch_info<float> e;
  e.averaged_model = model;
  e.metrics["train_loss"] = 9;

  SECTION("a number goes to metrics[name]") {
    int calls = 0;
    auto eval = fda::evaluate_average([&](std::span<const float> w) {
      ++calls;
      return float(w.size()) / 8;  // any type that converts to double
    });
    eval.on_epoch(e);
    CHECK(calls == 1);
    CHECK(e.metrics.at("test_accuracy") == 0.5);
    CHECK(e.metrics.at("train_loss") == 9);

    auto named = fda::evaluate_average([](std::span<const float> w) { return double(w[3]); }, "w3");
    named.on_epoch(e);
    CHECK(named.name() == "w3");
    CHECK(e.metrics.at("w3") == 4);
  }
  SECTION("a map's entries are merged, overwriting") {
    auto eval = fda::evaluate_average([](std::span<const float> w) {
      double sum = 0;
      for (float x : w) sum += x;
      return std::map<std::string, double>{{"test_accuracy", sum / 100}, {"train_loss", 0.5}};
    });
    eval.on_epoch(e);
    CHECK(e.metrics.size() == 2);
    CHECK(e.metrics.at("test_accuracy") == 0.1);
    CHECK(e.metrics.at("train_loss") == 0.5);
  }
}

TEST_CASE("call_hooks: evaluator, then stopper, then logger, on one epoch") {
  std::ostringstream csv;
  const std::vector<float> model{0.25f, 0.75f};
  auto callbacks = std::tuple{
      fda::evaluate_average([](std::span<const float> w) { return double(w[0] + w[1]) * 0.9; }),
      fda::stop_at_target{.target = 0.85}, fda::csv_logger(csv, "naive_fda", 2, false)};
  using tuple_t = decltype(callbacks);
  static_assert(
      fda::detail::any_has_hook<fda::detail::on_epoch_hook, tuple_t, fda::epoch_info<float>>);
  static_assert(
      fda::detail::any_has_hook<fda::detail::on_begin_hook, tuple_t, const fda::run_info>);
  static_assert(
      !fda::detail::any_has_hook<fda::detail::on_step_hook, tuple_t, const fda::step_info>);
  static_assert(!fda::detail::any_has_hook<fda::detail::on_end_hook, tuple_t, const fda::result>);

  fda::epoch_info<float> e{.epoch = 1,
                           .step = 50,
                           .total_steps = 100,
                           .syncs = 1,
                           .monitor_bytes = 400,
                           .sync_bytes = 16,
                           .theta = 0.25,
                           .wall_seconds = 0.5,
                           .averaged_model = model,
                           .metrics = {}};
  CHECK(fda::detail::call_hooks(fda::detail::on_epoch_hook{}, callbacks, e));
  REQUIRE(std::get<1>(callbacks).reached);
  CHECK(std::get<1>(callbacks).reached->value == 0.9);
  CHECK(csv.str() == "naive_fda,0.25,2,1,50,1,400,16,416,0.9,,0.5,,,0\n");

  SECTION("on_step and on_end reach the callbacks that have them") {
    std::ostringstream bar_out, json_out;
    auto more = std::tuple{fda::progress_bar({}, bar_out, fda::progress_bar::style::lines),
                           fda::json_summary(json_out, "x")};
    const fda::step_info last = step(10, 10);
    const fda::result r{};
    CHECK_FALSE(fda::detail::call_hooks(fda::detail::on_step_hook{}, more, last));
    CHECK_FALSE(fda::detail::call_hooks(fda::detail::on_end_hook{}, more, r));
    CHECK(count(bar_out.str(), '\n') == 1);
    CHECK(valid_json(json_out.str()));
  }
}

namespace {
struct float_epochs {
  void on_epoch(fda::epoch_info<float>&) {}
};
struct double_epochs {  // correct for double parameters only
  void on_epoch(fda::epoch_info<double>&) {}
};
struct const_double_epochs {
  bool on_epoch(const fda::epoch_info<double>&) { return false; }
};
struct template_epochs {  // a template: taken as it is (for any T)
  template <class T>
  void on_epoch(fda::epoch_info<T>&) {}
};
struct begin_by_mutable_reference {  // the trainer passes a const run_info
  void on_begin(fda::run_info&) {}
};
struct step_by_value {
  bool on_step(fda::step_info) { return false; }
};
struct sync_of_wrong_type {
  void on_sync(const fda::step_info&) {}
};
struct end_not_const {  // fine, unless the callback is passed as const
  void on_end(const fda::result&) {}
};
struct end_const {
  void on_end(const fda::result&) const {}
};
struct function_member {  // a data member named like a hook: called like one
  std::function<void(const fda::result&)> on_end = [](const fda::result&) {};
};
}  // namespace

TEST_CASE("detail::unusable_hook names a hook the trainer cannot call with what it passes") {
  using fda::detail::unusable_hook;
  STATIC_REQUIRE(unusable_hook<float, float_epochs>().empty());
  STATIC_REQUIRE(unusable_hook<double, float_epochs>() == "on_epoch");
  STATIC_REQUIRE(unusable_hook<double, double_epochs>().empty());
  STATIC_REQUIRE(unusable_hook<float, double_epochs>() == "on_epoch");  // compiled, never called, before
  STATIC_REQUIRE(unusable_hook<float, const_double_epochs>() == "on_epoch");
  STATIC_REQUIRE(unusable_hook<float, template_epochs>().empty());
  STATIC_REQUIRE(unusable_hook<double, template_epochs>().empty());
  STATIC_REQUIRE(unusable_hook<float, begin_by_mutable_reference>() == "on_begin");
  STATIC_REQUIRE(unusable_hook<float, step_by_value>().empty());
  STATIC_REQUIRE(unusable_hook<float, sync_of_wrong_type>() == "on_sync");
  STATIC_REQUIRE(unusable_hook<float, end_not_const>().empty());
  STATIC_REQUIRE(unusable_hook<float, const end_not_const>() == "on_end");
  STATIC_REQUIRE(unusable_hook<float, const end_const>().empty());
  STATIC_REQUIRE(unusable_hook<float, function_member>().empty());
}

TEST_CASE("check_callbacks accepts every callback of the library, for float and double") {
  auto eval = fda::evaluate_average([](auto w) { return double(w.size()); });
  using library = std::tuple<fda::progress_bar, fda::csv_logger&, fda::json_summary&, fda::stop_at_target,
                             decltype(eval)&, float_epochs&, step_by_value>;
  using library_d = std::tuple<fda::progress_bar&, fda::csv_logger, fda::json_summary, fda::stop_at_target&,
                               decltype(eval), double_epochs, const_double_epochs&, template_epochs, end_const>;
  STATIC_REQUIRE(fda::detail::check_callbacks<float, library>());
  STATIC_REQUIRE(fda::detail::check_callbacks<double, library_d>());
  STATIC_REQUIRE(fda::detail::check_callbacks<float, std::tuple<>>());
}

namespace {

/// The network_seconds column (the last) of each row of a csv_logger's output, header skipped.
std::vector<double> network_column(const std::string& csv) {
  std::vector<double> out;
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) out.push_back(std::stod(line.substr(line.rfind(',') + 1)));
  return out;
}

}  // namespace

TEST_CASE("epoch_info::network_seconds: the simulated time so far on fda::simulated_network, else 0") {
  const fda_test::least_squares problem(12, 4, 30, 0.5, 7, 0.0, 0.3, 0.2);
  const fda::options opt{.max_steps = 60, .steps_per_epoch = 10};
  struct epoch_metric {  // metrics["epoch"] = the epoch, for stop_at_target to watch
    void on_epoch(fda::epoch_info<double>& e) const { e.metrics["epoch"] = double(e.epoch); }
  };
  // The CSV of a synchronous run, every worker's transport wrapped in a simulated network or not.
  const auto run = [&](bool simulated, fda::stop_at_target& stop) {
    std::ostringstream out;
    fda::csv_logger log(out, "synchronous", problem.workers, true, {.seed = 7, .theta_configured = {}});
    fda::local_cluster cluster(problem.workers);
    cluster.run([&](fda::cluster_comm& c) {
      fda_test::ls_worker w{&problem, c.rank(), 0.03, 0.005};
      if (!simulated) return void(fda::train(c, w, fda::synchronous{}, fda::mean{}, opt, epoch_metric{}, log, stop));
      fda::simulated_network net(c, {.bandwidth = 1e8, .latency = 0.005});
      const fda::result r = fda::train(net, w, fda::synchronous{}, fda::mean{}, opt, epoch_metric{}, log, stop);
      if (c.rank() == 0) CHECK(r.network_seconds == net.network_seconds());
    });
    return out.str();
  };
  fda::stop_at_target never{.metric = "epoch", .target = 100};
  const std::string plain = run(false, never), simulated = run(true, never);
  const std::vector<double> p = network_column(plain), s = network_column(simulated);
  REQUIRE(p.size() == 6);
  REQUIRE(s.size() == 6);
  for (double t : p) CHECK(t == 0.0);
  CHECK(s.front() > 0.0);
  for (std::size_t i = 1; i < s.size(); ++i) CHECK(s[i] > s[i - 1]);  // a sync every step: strictly more
  CHECK(plain.find(",7,,0\n") != std::string::npos);                 // seed 7, no configured theta
  CHECK_FALSE(never.reached);

  SECTION("stop_at_target records the simulated time to the target") {
    fda::stop_at_target third{.metric = "epoch", .target = 3};
    CHECK(network_column(run(true, third)).size() == 3);
    REQUIRE(third.reached);
    CHECK(third.reached->epoch == 3);
    CHECK(third.reached->network_seconds == s[2]);
    fda::stop_at_target plain_third{.metric = "epoch", .target = 3};
    run(false, plain_third);
    REQUIRE(plain_third.reached);
    CHECK(plain_third.reached->network_seconds == 0.0);
  }
}

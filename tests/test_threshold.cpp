// SPDX-License-Identifier: Apache-2.0
// fda/threshold.hpp: reading a threshold from text (the constructors and the adaptive
// rules are tested through the policies in test_policy.cpp).
#include <fda/threshold.hpp>

#include <catch2/catch.hpp>
#include <string>

using Catch::Matchers::Contains;

TEST_CASE("parse_threshold reads 'adaptive' and finite numbers >= 0", "[threshold]") {
  CHECK(fda::parse_threshold("adaptive").is_adaptive());
  const std::pair<const char*, double> numbers[] = {{"0", 0.0}, {"2.5", 2.5}, {"7", 7.0}, {"1e-3", 1e-3}, {"1E+2", 100.0}};
  for (const auto& [text, value] : numbers) {
    INFO(text);
    const fda::threshold t = fda::parse_threshold(text);
    REQUIRE(t.as_fixed());
    CHECK(t.as_fixed()->value == value);
  }
}

TEST_CASE("parse_threshold rejects anything else, quoting it", "[threshold]") {
  for (const char* text : {"", "-1", "-0.5", "nan", "inf", "1e400", "2.5x", " 1", "+1", "0x10", "Adaptive", "adaptive "}) {
    INFO('"' << text << '"');
    try {
      fda::parse_threshold(text);
      FAIL("accepted");
    } catch (const fda::invalid_argument& e) {
      CHECK_THAT(e.what(), Contains(std::string("\"") + text + "\"") && Contains("finite number >= 0 or 'adaptive'"));
    }
  }
}

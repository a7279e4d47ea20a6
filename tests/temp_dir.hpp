// SPDX-License-Identifier: Apache-2.0
#pragma once
// A fresh directory under the system's temporary directory, removed with everything in it
// when the test is done (shared by the tests that write files).
#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>
#include <unistd.h>

namespace fda_test {

struct temp_dir {
  std::filesystem::path path;
  /// "<tmp>/fda_test_<name>_<pid>_<n>", created empty.
  explicit temp_dir(const std::string& name = "dir") {
    static std::atomic<int> count{0};
    path = std::filesystem::temp_directory_path() /
           ("fda_test_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(count++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace fda_test

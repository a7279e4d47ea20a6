// SPDX-License-Identifier: Apache-2.0
// Must not compile: fda::view of ints fails with one readable static_assert.
#include <fda/params.hpp>

int main() {
  std::vector<int> v{1, 2, 3};
  return int(fda::view(v).size());
}

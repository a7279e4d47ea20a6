// SPDX-License-Identifier: Apache-2.0
// Must not compile: views of a memory space whose fda::space_traits is not specialized. The
// primary template's static_assert names what a space must supply (docs/concepts.md).
#include <fda/kernels.hpp>

#include <span>
#include <vector>

struct space_without_backend {};

int main() {
  std::vector<float> v(4);
  const fda::param_view<float, space_without_backend> x(std::span<float>(v.data(), v.size()));
  return int(fda::sq_norm(x));
}

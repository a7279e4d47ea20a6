// SPDX-License-Identifier: Apache-2.0
// Must not compile: a view of a temporary container would dangle.
#include <fda/params.hpp>

int main() { return int(fda::view(std::vector<float>{1, 2}).size()); }

// SPDX-License-Identifier: Apache-2.0
// Linked through fda::idx (zlib): an IDX file of three bytes, read from memory.
#include <fda/data/idx.hpp>

#include <cstdint>
#include <vector>

int consumer_idx() {
  const std::uint8_t bytes[] = {0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9};  // magic, dims {3}, data
  const fda::data::idx_array a = fda::data::read_idx(bytes);
  return a.dims == std::vector<std::size_t>{3} && a.data == std::vector<std::uint8_t>{7, 8, 9} ? 0 : 1;
}

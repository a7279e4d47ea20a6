// SPDX-License-Identifier: Apache-2.0
// Must not compile with -ffast-math (or -Ofast): fast math would make device results differ
// from the host's, so <fda/thrust.hpp> refuses it with an #error that names the flag. The
// same file without the flag compiles (the test checks both).
#include <fda/thrust.hpp>

int main() {
  thrust::device_vector<float> w(10, 1.0f);
  return fda::sq_norm(w) == 10.0 ? 0 : 1;
}

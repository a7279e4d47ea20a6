// Exits 0 only when fda::drift gives the known answer on small vectors.
#include <fda/kernels.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::vector<float> w{1, 2, 3}, w0{0, 0, 1}, xi{1, 1, 1};
  const auto d = fda::drift(w, w0, xi);  // u = (1, 2, 2): ||u||² = 9, xi·u = 5
  const bool ok = d.sq_norm == 9.0 && d.dot == 5.0;
  std::printf("fda::drift: sq_norm %g, dot %g: %s\n", d.sq_norm, d.dot, ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}

// SPDX-License-Identifier: Apache-2.0
// Exits 0 only when fda::drift gives the known answer on small vectors and the version
// macros agree with each other and, when the build passes FDA_EXPECTED_VERSION, with it.
// The CMake consumer also links the adapters' targets (FDA_CONSUMER_<NAME>: adapter_<name>.cpp,
// built through fda::<name>) and runs a line of each; the pkg-config build has none of them.
#include <fda/kernels.hpp>
#include <fda/version.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#ifdef FDA_CONSUMER_EIGEN
int consumer_eigen();
#endif
#ifdef FDA_CONSUMER_IDX
int consumer_idx();
#endif
#ifdef FDA_CONSUMER_MPI
int consumer_mpi(bool run);
#endif
#ifdef FDA_CONSUMER_BENCHMARK
int consumer_benchmark();
#endif
#ifdef FDA_CONSUMER_THRUST_OMP
int consumer_thrust_omp();
#endif

namespace {
[[maybe_unused]] int adapter(const char* name, int status) {
  std::printf("%s: %s\n", name, status == 0 ? "ok" : "WRONG");
  return status;
}
}  // namespace

int main([[maybe_unused]] int argc, [[maybe_unused]] char** argv) {
  std::vector<float> w{1, 2, 3}, w0{0, 0, 1}, xi{1, 1, 1};
  const auto d = fda::drift(w, w0, xi);  // u = (1, 2, 2): ||u||² = 9, xi·u = 5
  const bool ok = d.sq_norm == 9.0 && d.dot == 5.0;
  std::printf("fda::drift: sq_norm %g, dot %g: %s\n", d.sq_norm, d.dot, ok ? "ok" : "WRONG");

  const std::string parts = std::to_string(FDA_VERSION_MAJOR) + "." + std::to_string(FDA_VERSION_MINOR) + "." +
                            std::to_string(FDA_VERSION_PATCH);
#ifdef FDA_EXPECTED_VERSION
  const char* expected = FDA_EXPECTED_VERSION;
#else
  const char* expected = FDA_VERSION;
#endif
  const bool version_ok = parts == FDA_VERSION && std::strcmp(FDA_VERSION, expected) == 0;
  std::printf("FDA_VERSION %s (MAJOR.MINOR.PATCH %s, expected %s): %s\n", FDA_VERSION, parts.c_str(), expected,
              version_ok ? "ok" : "WRONG");
  int adapters = 0;
#ifdef FDA_CONSUMER_EIGEN
  adapters |= adapter("fda::eigen", consumer_eigen());
#endif
#ifdef FDA_CONSUMER_IDX
  adapters |= adapter("fda::idx", consumer_idx());
#endif
#ifdef FDA_CONSUMER_MPI
  adapters |= adapter("fda::mpi (linked; run with --mpi)", consumer_mpi(argc > 1 && std::strcmp(argv[1], "--mpi") == 0));
#endif
#ifdef FDA_CONSUMER_BENCHMARK
  adapters |= adapter("fda::benchmark", consumer_benchmark());
#endif
#ifdef FDA_CONSUMER_THRUST_OMP
  adapters |= adapter("fda::thrust_omp", consumer_thrust_omp());
#endif
  return ok && version_ok && adapters == 0 ? 0 : 1;
}

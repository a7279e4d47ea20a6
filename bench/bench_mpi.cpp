// SPDX-License-Identifier: Apache-2.0
// The sync of the MPI transport against a raw MPI_Allreduce of the same buffer, in the
// same run: `mpirun -np 4 fda_bench_mpi`. Every rank runs the same benchmarks with the
// same fixed iteration counts (a collective per iteration); rank 0 reports.
//
// sync/<mode>/d:<d> times fda::mpi_comm::average (what a sync of fda::train sends and
// computes: the average into the replica's buffer, the finiteness probe and the spread);
// each iteration also times MPI_Allreduce(params → buffer, MPI_SUM) of the same floats,
// in alternating order, and the counters give medians of both and their ratio; copy_ms is
// one read-and-write pass over the same floats (the least that forming the average from
// MPI's sum adds: out ← sum / K).
#include <benchmark/benchmark.h>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include <algorithm>
#include <chrono>
#include <vector>

#include <fda/mpi.hpp>

namespace {

boost::mpi::communicator* world = nullptr;

double seconds(auto f) {
  MPI_Barrier(*world);
  const auto t0 = std::chrono::steady_clock::now();
  f();
  MPI_Barrier(*world);  // a collective ends when the slowest rank is done
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void sync_vs_allreduce(benchmark::State& state, fda::mpi_reduction mode) {
  const auto d = std::size_t(state.range(0));
  std::vector<float> params(d), avg(d), raw(d);
  for (std::size_t i = 0; i < d; ++i) params[i] = float(world->rank() + 1) * 1e-3f * float(i % 1000);
  fda::mpi_comm comm(*world, {.reduction = mode});
  const fda::param_view<const float> mine = fda::view(params);
  std::vector<double> t_sync, t_raw, t_pass;
  bool raw_first = true;
  for (auto _ : state) {
    auto sync = [&] { benchmark::DoNotOptimize(comm.average(mine, 1.0, std::span<float>(avg))); };
    auto allreduce = [&] { MPI_Allreduce(params.data(), raw.data(), int(d), MPI_FLOAT, MPI_SUM, *world); };
    if (raw_first) t_raw.push_back(seconds(allreduce));
    t_sync.push_back(seconds(sync));
    if (!raw_first) t_raw.push_back(seconds(allreduce));
    raw_first = !raw_first;
    t_pass.push_back(seconds([&] { std::copy(params.begin(), params.end(), raw.begin()); }));
    state.SetIterationTime(t_sync.back());
  }
  const double s = median(t_sync), r = median(t_raw);
  state.counters["sync_ms"] = s * 1e3;
  state.counters["allreduce_ms"] = r * 1e3;
  state.counters["ratio"] = s / r;
  state.counters["copy_ms"] = median(t_pass) * 1e3;  // one pass over d: what averaging adds at least
  state.SetBytesProcessed(std::int64_t(state.iterations() * d * sizeof(float)));
}

/// Rank 0 reports; the others run the same benchmarks silently.
class silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv);
  boost::mpi::communicator w;
  world = &w;
  for (auto mode : {fda::mpi_reduction::native, fda::mpi_reduction::ordered})
    benchmark::RegisterBenchmark(mode == fda::mpi_reduction::native ? "sync/native" : "sync/ordered",
                                 sync_vs_allreduce, mode)
        ->ArgName("d")
        ->Arg(1'000'000)
        ->Arg(10'000'000)
        ->Iterations(20)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (w.rank() == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    silent quiet;
    benchmark::RunSpecifiedBenchmarks(&quiet);
  }
  benchmark::Shutdown();
}

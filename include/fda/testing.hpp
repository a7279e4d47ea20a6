// SPDX-License-Identifier: Apache-2.0
#pragma once
/// <fda/testing.hpp>: the conformance suite offered to plug-in authors. Standard library
/// only, no test framework: every check returns an fda::testing::report, which says
/// passed(), lists each failed check with what it measured and what it expected, and
/// prints (operator<<, summary()).
///
///   #include <fda/testing.hpp>
///
///   // A policy: protocol, cost-model bytes, H >= Var as promised, checkpoints,
///   // convergence on a problem that needs communication, determinism.
///   auto r = fda::testing::check_policy(my_policy{.theta = 0.5},
///                                       {.bounds_variance = fda::testing::always});
///   REQUIRE(r.passed());                       // Catch2; or print it: std::cout << r;
///   fda::testing::check_policy<double>(...);   // double parameters
///   fda::testing::check_policy<float, fda::device_space>(...);  // with <fda/thrust.hpp>
///
///   // An aggregator: apply() deterministic, replaces_model exact, weighting by samples,
///   // state_fields through a checkpoint, convergence.
///   auto a = fda::testing::check_aggregator(my_aggregator{});
///
///   // A transport, SPMD: every worker calls both with its own communicator.
///   cluster.run([&](fda::cluster_comm& c) {
///     my_transport t(c);
///     reports[c.rank()] = fda::testing::check_communicator(t);  // collectives vs brute force
///     reports[c.rank()].merge(fda::testing::check_train_on(t)); // fda::train = in-process
///   });
///
/// fda::testing::never_sync is the negative control: check_policy fails it on convergence.
/// Bit-exact checks assume the code compares like for like: build without FMA contraction
/// (-ffp-contract=off), as fda's own tests do.
#include "testing/aggregator.hpp"
#include "testing/communicator.hpp"
#include "testing/policy.hpp"
#include "testing/problem.hpp"
#include "testing/report.hpp"

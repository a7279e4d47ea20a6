#pragma once
/// fda: Federated Dynamic Averaging. The core umbrella: views, kernels, the AMS sketch,
/// every sync policy and threshold, every server aggregator. Standard library only.
/// Opt-in adapters are separate: <fda/eigen.hpp> (and, later, mpi.hpp, thrust.hpp).
#include "aggregate.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "params.hpp"
#include "policy.hpp"
#include "sketch.hpp"
#include "threshold.hpp"
#include "version.hpp"
#include "callbacks.hpp"
#include "comm/local_cluster.hpp"
#include "options.hpp"
#include "train.hpp"
#include "worker.hpp"

// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The ZeroMQ transport (opt-in: needs cppzmq and libzmq 4.3+; CMake target fda::zmq).
///
/// A run across machines without MPI: one hub (fda::zmq_hub; the program fda-hub) and K
/// worker processes (fda::zmq_comm), encrypted and authenticated with CURVE by default
/// (key files from fda::write_run_keys; the program fda-keys). docs/federated.md tells how
/// to deploy it, what it protects and what it does not, and how it fails.
#include "zmq/comm.hpp"
#include "zmq/frame.hpp"
#include "zmq/hub.hpp"
#include "zmq/keys.hpp"

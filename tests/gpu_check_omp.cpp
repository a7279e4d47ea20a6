// SPDX-License-Identifier: Apache-2.0
// bench/gpu_check.cu built with Thrust's OpenMP back end (a C++ compiler reads no .cu file):
// its checks and its table, on the CPU.
#include "../bench/gpu_check.cu"

// SPDX-License-Identifier: Apache-2.0
// examples/gpu_least_squares.cu built with Thrust's OpenMP back end (a C++ compiler reads no
// .cu file): the same program, "device" memory being host memory worked on by OpenMP threads.
#include "gpu_least_squares.cu"

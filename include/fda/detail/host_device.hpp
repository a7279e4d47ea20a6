// SPDX-License-Identifier: Apache-2.0
#pragma once
/// FDA_HOST_DEVICE marks the core helpers that device code calls too (the kernels' terms
/// and ops, detail/terms.hpp, shared by every memory space; the sketch's bucket, sign and
/// table lookup): `__host__ __device__` when nvcc compiles the translation unit, nothing
/// otherwise, so the core stays plain C++.
#if defined(__CUDACC__)
#define FDA_HOST_DEVICE __host__ __device__
#else
#define FDA_HOST_DEVICE
#endif

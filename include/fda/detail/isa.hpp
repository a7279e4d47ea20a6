// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Run-time choice of the instruction set for the hot host kernels (the blocked reductions
/// of detail/traverse.hpp and the sketch): the same source compiled once per ISA with
/// function target attributes, the widest one this CPU has picked at the first call.
///
///   with_isa(f)  calls f(isa_tag<I>{}) inside a clone compiled for I, with everything f
///                calls inlined into it (`flatten`), so the whole loop nest gets I's
///                vector width; f may use the tag to pick ISA-specific code.
///
/// Results are bit-identical on every path, so workers on different machines make the same
/// decisions: the kernels fix their summation order by index (lanes and blocks), and every
/// clone is compiled without floating-point contraction. That last point needs saying: in
/// C++ GCC contracts a*b+c into one FMA by default (-ffp-contract=fast, even with
/// -std=c++20; only ISO C turns it off) wherever the ISA has FMA, as AVX-512 does, and a
/// fused multiply-add rounds once instead of twice. GCC clones carry
/// optimize("fp-contract=off"), which also holds when the translation unit is built with
/// -march=native or -std=gnu++20. Clang contracts within one expression: terms.hpp,
/// sketch_host.hpp and sketch.hpp turn that off for their code (#pragma clang fp contract),
/// and Clang gets no AVX-512 clone, as terms written elsewhere are not covered. tests/test_kernels.cpp and
/// tests/test_sketch.cpp check every path against the portable one bit for bit.
///
/// Paths: portable (plain C++, every platform), sse2 (x86-64's baseline; the sketch's
/// hashing in SSE2 intrinsics), avx2, avx512 (F, VL, BW, DQ: x86-64-v4). Outside x86-64
/// with GCC or Clang, and in CUDA translation units, only `portable` exists.
#include <atomic>

namespace fda::detail {

enum class isa : int { portable = 0, sse2 = 1, avx2 = 2, avx512 = 3 };

template <isa I>
struct isa_tag {
  static constexpr isa value = I;
};

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CUDACC__)
#define FDA_DETAIL_X86_DISPATCH 1
#if defined(__clang__)
#define FDA_DETAIL_CLONE(...) __attribute__((flatten __VA_OPT__(, target(__VA_ARGS__))))
#else
#define FDA_DETAIL_CLONE(...) \
  __attribute__((flatten, optimize("fp-contract=off") __VA_OPT__(, target(__VA_ARGS__))))
#endif
#define FDA_DETAIL_TARGET_AVX2 "avx2"
#define FDA_DETAIL_TARGET_AVX512 "avx512f,avx512vl,avx512bw,avx512dq"
#endif

/// The widest path this CPU supports (detected once; CPUID and the OS's register state).
inline isa cpu_isa() noexcept {
#if defined(FDA_DETAIL_X86_DISPATCH)
  static const isa best = [] {
    __builtin_cpu_init();
#if !defined(__clang__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
      return isa::avx512;
#endif
    if (__builtin_cpu_supports("avx2")) return isa::avx2;
    return isa::sse2;
  }();
  return best;
#else
  return isa::portable;
#endif
}

/// The widest path the kernels may take (default: all). Tests and benchmarks lower it to
/// run a narrower path on the same machine; not meant for users.
inline std::atomic<isa> isa_ceiling{isa::avx512};

/// The path the next kernel call takes: min(cpu_isa(), isa_ceiling).
inline isa active_isa() noexcept {
  const isa c = isa_ceiling.load(std::memory_order_relaxed), b = cpu_isa();
  return c < b ? c : b;
}

#if defined(FDA_DETAIL_X86_DISPATCH)
template <class F>
FDA_DETAIL_CLONE() auto run_portable(F& f) {
  return f(isa_tag<isa::portable>{});
}
template <class F>
FDA_DETAIL_CLONE() auto run_sse2(F& f) {
  return f(isa_tag<isa::sse2>{});
}
template <class F>
FDA_DETAIL_CLONE(FDA_DETAIL_TARGET_AVX2) auto run_avx2(F& f) {
  return f(isa_tag<isa::avx2>{});
}
#if !defined(__clang__)
template <class F>
FDA_DETAIL_CLONE(FDA_DETAIL_TARGET_AVX512) auto run_avx512(F& f) {
  return f(isa_tag<isa::avx512>{});
}
#endif
#endif

/// f(isa_tag<active_isa()>{}), compiled for that ISA. Every instantiation of f must return
/// the same type.
template <class F>
auto with_isa(F&& f) {
#if defined(FDA_DETAIL_X86_DISPATCH)
  switch (active_isa()) {
#if !defined(__clang__)
    case isa::avx512:
      return run_avx512(f);
#endif
    case isa::avx2:
      return run_avx2(f);
    case isa::sse2:
      return run_sse2(f);
    default:
      return run_portable(f);
  }
#else
  return f(isa_tag<isa::portable>{});
#endif
}

}  // namespace fda::detail

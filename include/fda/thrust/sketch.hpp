// SPDX-License-Identifier: Apache-2.0
#pragma once
/// The AMS sketch of device views (<fda/thrust.hpp>), without any d × depth table: hashes
/// from the tabulation tables (copied to device memory once per tables object), exactly the
/// host's cells and signs; a CUDA kernel on the CUDA back end, whole blocks per OpenMP
/// thread on the OpenMP one, the same arithmetic in both.
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "../error.hpp"
#include "../detail/host_device.hpp"
#include "../detail/sketch_hashes.hpp"
#include "../detail/tabulation_hash.hpp"
#include "reduce.hpp"

namespace fda::detail::dev {

/// The device copy of a tabulation_hash's tables, on one device.
struct device_tables {
  device_buffer<std::uint64_t> t0, t1, t2;
  std::size_t na = 0, nb = 0, n2 = 0;

  tabulation_hash::table_ref ref() const { return {t0.data(), t1.data(), t2.data(), na, nb, n2}; }
};

/// A host vector's copy in device memory (checked: the copy is waited for).
inline device_buffer<std::uint64_t> on_device(const std::vector<std::uint64_t>& host) {
  device_buffer<std::uint64_t> dev(host.size());
  upload(dev.data(), host.data(), host.size());
  finish("copy of the sketch's hash tables");
  return dev;
}

/// The copy of `host` on the calling thread's device, made on first use there and kept
/// while `host` lives (thread-safe). The cache is deliberately never destroyed: device
/// memory must not be freed during static destruction, when the CUDA runtime may be gone.
inline std::shared_ptr<const device_tables> device_copy(const std::shared_ptr<const tabulation_hash::tables>& host) {
  struct entry {
    std::weak_ptr<const tabulation_hash::tables> host;
    int device;
    std::shared_ptr<const device_tables> dev;
  };
  static std::mutex* mutex = new std::mutex;
  static std::vector<entry>* cache = new std::vector<entry>;
  const int device = current_device();
  std::lock_guard lock(*mutex);
  std::erase_if(*cache, [](const entry& e) { return e.host.expired(); });
  for (const auto& e : *cache)
    if (e.device == device && e.host.lock() == host) return e.dev;
  auto dev = std::make_shared<device_tables>();
  dev->t0 = on_device(host->t0);
  dev->t1 = on_device(host->t1);
  dev->t2 = on_device(host->t2);
  dev->na = host->na;
  dev->nb = host->nb;
  dev->n2 = host->n2;
  cache->push_back({host, device, dev});
  return dev;
}

inline constexpr std::size_t sketch_threads = 256;  ///< a thread per low character a
inline constexpr std::size_t sketch_epoch = 16;     ///< high characters per epoch
inline constexpr std::size_t sketch_blocks = 1024;  ///< about this many blocks, for any n

/// How the device sketch splits indices i = b · 4096 + a, and why it is deterministic.
///
/// A block owns a slice of 256 low characters a and a range of `span` high characters b.
/// It walks its range in epochs of 16 b (4096 elements): each element's value is rounded
/// to a 64-bit integer q = rint(v · 2^k), with 2^k chosen from the epoch's largest |v| so
/// that no cell of the epoch can overflow (|q| ≤ 2^50, 4096 of them); the q are added into
/// the block's integer cells (sign and bucket exactly as on the host), in any order:
/// integer sums do not depend on it. At the end of the epoch each integer cell, times
/// 2^-k, is added to the block's double cells. The blocks' double cells are then added in
/// block order. So the counters depend only on the values and n; they differ from the
/// host's by the rounding of v to 2^-k (at most 2^-51 of the epoch's largest |v| per
/// element) and of the sums, and equal them exactly when the values are integers of
/// moderate size (< 2^50). A NaN or Inf value makes every counter NaN.
/// ||v||² is summed per thread in index order, the 256 sums added by a fixed tree, the
/// blocks' sums in block order.
struct sketch_geometry {
  std::size_t n = 0, depth = 0, width = 0;
  std::size_t slices = 0;  ///< slices of 256 low characters
  std::size_t nb = 0;      ///< high characters
  std::size_t span = 0;    ///< high characters per block (a multiple of 16)
  std::size_t groups = 0;  ///< blocks per slice

  static sketch_geometry of(std::size_t n, std::size_t depth, std::size_t width) {
    sketch_geometry g;
    g.n = n;
    g.depth = depth;
    g.width = width;
    const std::size_t na = smaller(n, tabulation_hash::char_size);
    g.slices = (na + sketch_threads - 1) / sketch_threads;
    g.nb = (n + tabulation_hash::char_size - 1) / tabulation_hash::char_size;
    const std::size_t per_slice = (sketch_blocks + g.slices - 1) / g.slices;
    const std::size_t epochs = (g.nb + sketch_epoch - 1) / sketch_epoch;
    g.span = sketch_epoch * ((epochs + per_slice - 1) / per_slice);
    g.groups = (g.nb + g.span - 1) / g.span;
    return g;
  }
  std::size_t blocks() const { return slices * groups; }
  FDA_HOST_DEVICE std::size_t cells() const { return depth * width; }
  FDA_HOST_DEVICE std::size_t a0(std::size_t block) const { return (block % slices) * sketch_threads; }
  FDA_HOST_DEVICE std::size_t b0(std::size_t block) const { return (block / slices) * span; }
  FDA_HOST_DEVICE std::size_t b1(std::size_t block) const { return smaller(nb, b0(block) + span); }
};

/// The fixed-point scale of an epoch whose largest |v| is m > 0: 2^k with m · 2^k < 2^50.
FDA_HOST_DEVICE inline int scale_exponent(double m) {
  int e = 0;
#if defined(__CUDA_ARCH__)
  frexp(m, &e);
#else
  std::frexp(m, &e);
#endif
  return 50 - e;
}

/// 2^k for k in [-1022, 1023], from its bits.
FDA_HOST_DEVICE inline double pow2(int k) {
  const auto bits = static_cast<std::uint64_t>(k + 1023) << 52;
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(bits));
#else
  return std::bit_cast<double>(bits);
#endif
}

/// rint(v · 2^k), |v · 2^k| ≤ 2^50. v · 2^k is one correctly rounded multiplication (exact
/// unless it underflows), as ldexp would give; adding and removing 1.5 · 2^52 then rounds it
/// to the nearest integer, ties to even, as llrint would: no library call per element.
FDA_HOST_DEVICE inline std::uint64_t quantize(double v, int k) {
  constexpr double magic = 6755399441055744.0;  // 1.5 · 2^52
  const double scaled = k <= 1023 ? mul(v, pow2(k)) : mul(mul(v, pow2(1023)), pow2(k - 1023));
#if defined(__CUDA_ARCH__)
  const double rounded = __dadd_rn(__dadd_rn(scaled, magic), -magic);
#else
  const double rounded = (scaled + magic) - magic;
#endif
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(rounded));
}

/// An integer cell (two's complement in 64 bits) times 2^-k.
FDA_HOST_DEVICE inline double unquantize(std::uint64_t sum, int k) {
#if defined(__CUDA_ARCH__)
  return ldexp(double(static_cast<long long>(sum)), -k);
#else
  return std::ldexp(double(static_cast<std::int64_t>(sum)), -k);
#endif
}

FDA_HOST_DEVICE inline double magnitude(double v) { return v < 0.0 ? -v : v; }

FDA_HOST_DEVICE inline double quiet_nan() {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(0x7ff8000000000000LL);
#else
  return std::numeric_limits<double>::quiet_NaN();
#endif
}

/// The value the sketch adds at index i: a, or a − b with two views, in double.
template <class A, class... B>
FDA_HOST_DEVICE double value_at(const piece_list& pieces, std::size_t i) {
  const piece p = pieces.at(pieces.find(i));
  if constexpr (sizeof...(B) == 0)
    return double(element<0, A>(p, i));
  else
    return double(element<0, A>(p, i)) - double(element<1, B...>(p, i));
}

/// Where row r adds an element whose hash word is `word`: r · width + bucket, and the
/// element's integer value with the row's sign, as sketch_scatter does (cell c < width:
/// bucket c, sign +1; else bucket c − width, sign −1). Branch-free: the sign is a coin flip.
struct cell {
  std::size_t index;
  std::uint64_t value;
};
FDA_HOST_DEVICE inline cell cell_at(std::size_t width, std::size_t r, std::uint64_t word, std::uint64_t q) {
  const auto y = std::uint32_t(word >> (32 * (r % 2)));
  const std::uint64_t c = sketch_hashes::cell_of(y, 2 * width);
  const std::uint64_t negative = c >= width, mask = 0 - negative;  // all ones when negative
  return {r * width + c - (width & mask), (q ^ mask) - mask};      // −q in two's complement
}

/// One block of the device sketch, run by one host thread: the OpenMP back end's code, and
/// the reference the CUDA kernel matches bit for bit (bench/gpu_check.cu checks that).
/// Writes the block's cells to partial[0 .. cells) and its ||v||² to *partial_sq.
template <class... T>
void sketch_block(const sketch_geometry& g, const tabulation_hash::table_ref& tables, const piece_list& pieces,
                  std::size_t block, double* partial, double* partial_sq) {
  const tabulation_hash::table_ref t = tables;  // a local copy: the cell stores cannot alias it
  const std::size_t cells = g.cells(), a0 = g.a0(block), b1 = g.b1(block), elems = sketch_threads * sketch_epoch;
  // One workspace per host thread: allocating per block costs more than the block's work.
  thread_local std::vector<std::uint64_t> icells, q;
  thread_local std::vector<double> dcells, v;
  thread_local std::vector<std::size_t> index;
  icells.assign(cells, 0);
  dcells.assign(cells, 0.0);
  q.resize(elems);
  v.resize(elems);
  index.resize(elems);
  double sq[sketch_threads] = {};
  bool poisoned = false;
  for (std::size_t be = g.b0(block); be < b1; be += sketch_epoch) {
    bool bad = false;
    double m = 0.0;
    std::size_t count = 0;  // valid elements of the epoch, in index order
    // j outer, tid inner walks memory in order; each thread's sq still adds in j order, and
    // the maximum and the integer cells do not depend on the order.
    for (std::size_t j = 0; j < sketch_epoch && be + j < b1; ++j)
      for (std::size_t tid = 0; tid < sketch_threads; ++tid) {
        const std::size_t i = (be + j) * tabulation_hash::char_size + a0 + tid;
        if (i >= g.n) break;
        const double x = value_at<T...>(pieces, i);
        sq[tid] += mul(x, x);
        if (!finite(x)) bad = true;
        else if (magnitude(x) > m) m = magnitude(x);
        v[count] = x;
        index[count++] = i;
      }
    poisoned = poisoned || bad;
    if (bad || m == 0.0) continue;
    const int k = scale_exponent(m);
    for (std::size_t e = 0; e < count; ++e) q[e] = quantize(v[e], k);
    const std::uint64_t* qs = q.data();
    const std::size_t* is = index.data();
    for (std::size_t w = 0; 2 * w < g.depth; ++w) {  // a word serves rows 2w and 2w + 1
      std::uint64_t* cells_w = icells.data();
      const bool two_rows = 2 * w + 1 < g.depth;
      for (std::size_t e = 0; e < count; ++e) {
        const std::uint64_t word = t.word(w, is[e]);
        const cell c0 = cell_at(g.width, 2 * w, word, qs[e]);
        cells_w[c0.index] += c0.value;
        if (two_rows) {
          const cell c1 = cell_at(g.width, 2 * w + 1, word, qs[e]);
          cells_w[c1.index] += c1.value;
        }
      }
    }
    for (std::size_t c = 0; c < cells; ++c) {
      dcells[c] += unquantize(icells[c], k);
      icells[c] = 0;
    }
  }
  for (std::size_t stride = sketch_threads / 2; stride > 0; stride /= 2)
    for (std::size_t tid = 0; tid < stride; ++tid) sq[tid] += sq[tid + stride];
  *partial_sq = sq[0];
  for (std::size_t c = 0; c < cells; ++c) partial[c] = poisoned ? quiet_nan() : dcells[c];
}

/// out[c] = the blocks' partial cells c added in block order; out[cells] = their ||v||².
/// With `accumulate`, the sums go on from out's values: waves of blocks merged one after
/// the other add in the same order as one merge of all blocks.
struct merge_pass {
  const double* partial = nullptr;
  const double* partial_sq = nullptr;
  double* out = nullptr;
  std::size_t blocks = 0, cells = 0;
  bool accumulate = false;

  FDA_HOST_DEVICE void operator()(std::size_t c) const {
    double s = accumulate ? out[c] : 0.0;
    if (c < cells)
      for (std::size_t b = 0; b < blocks; ++b) s += partial[b * cells + c];
    else
      for (std::size_t b = 0; b < blocks; ++b) s += partial_sq[b];
    out[c] = s;
  }
};

/// The most device memory (bytes) one sketch call's per-block partial cells may take; more
/// blocks than fit run in waves (same result, bit for bit). A test lowers it to force waves.
inline std::atomic<std::size_t>& sketch_scratch_limit() {
  static std::atomic<std::size_t> bytes{std::size_t{256} << 20};
  return bytes;
}

#if FDA_THRUST_CUDA
/// The largest of the block's m ≥ 0 (bits of non-negative doubles order as integers): a
/// warp-shuffle maximum, then one shared atomic per warp.
__device__ inline void block_max(unsigned long long* largest, double m) {
  auto bits = static_cast<unsigned long long>(__double_as_longlong(m));
  for (int offset = 16; offset > 0; offset /= 2) {
    const unsigned long long other = __shfl_xor_sync(0xffffffffu, bits, offset);
    bits = other > bits ? other : bits;
  }
  if (threadIdx.x % 32 == 0) atomicMax(largest, bits);
}

/// Blocks per SM the sketch kernel is compiled for (__launch_bounds__): at most 64
/// registers per thread, 50% occupancy on Hopper, no spills (bench/README.md; it used 102
/// registers, 25%, before; scripts/gpu-check --build-only reports them).
inline constexpr int sketch_min_blocks = 4;

/// The CUDA kernel of sketch_block for blocks first + blockIdx.x: a CUDA block of 256
/// threads per sketch block, thread tid owning low character a0 + tid; integer cells in
/// shared memory (or in global memory, `spill`, for sketches too large for it), updated
/// with integer atomics. Partials go to partial[blockIdx.x · cells ...].
template <class... T>
__global__ void __launch_bounds__(256, sketch_min_blocks)
    sketch_kernel_cuda(sketch_geometry g, tabulation_hash::table_ref t, piece_list pieces, std::size_t first,
                       double* partial, double* partial_sq, unsigned long long* spill) {
  extern __shared__ unsigned long long shared_cells[];
  __shared__ double tree[sketch_threads];
  __shared__ unsigned long long largest;  // bits of the epoch's largest |v| (ordered as integers, v ≥ 0)
  const std::size_t cells = g.cells(), block = first + blockIdx.x, tid = threadIdx.x;
  unsigned long long* icells = spill ? spill + 2 * blockIdx.x * cells : shared_cells;
  double* dcells = reinterpret_cast<double*>(icells + cells);
  for (std::size_t c = tid; c < cells; c += sketch_threads) icells[c] = 0, dcells[c] = 0.0;
  if (tid == 0) largest = 0;
  __syncthreads();
  const std::size_t a = g.a0(block) + tid, b1 = g.b1(block);
  double sq = 0.0;
  bool poisoned = false;
  for (std::size_t be = g.b0(block); be < b1; be += sketch_epoch) {
    double v[sketch_epoch];
    bool bad = false;
    double m = 0.0;
#pragma unroll
    for (std::size_t j = 0; j < sketch_epoch; ++j) {
      const std::size_t b = be + j, i = b * tabulation_hash::char_size + a;
      v[j] = 0.0;
      if (b < b1 && i < g.n) {
        v[j] = value_at<T...>(pieces, i);
        sq += mul(v[j], v[j]);
        if (!finite(v[j])) bad = true;
        else if (magnitude(v[j]) > m) m = magnitude(v[j]);
      }
    }
    block_max(&largest, m);
    const bool any_bad = __syncthreads_or(bad);
    const double epoch_max = __longlong_as_double(static_cast<long long>(largest));
    const bool add = !any_bad && epoch_max > 0.0;
    poisoned = poisoned || any_bad;
    const int k = add ? scale_exponent(epoch_max) : 0;
    if (add) {
#pragma unroll
      for (std::size_t j = 0; j < sketch_epoch; ++j) {
        const std::size_t b = be + j, i = b * tabulation_hash::char_size + a;
        if (!(b < b1 && i < g.n)) continue;
        const std::uint64_t q = quantize(v[j], k);
        std::uint64_t word = 0;
#pragma unroll 1  // unrolled, the rows' addresses take the registers that 4 blocks per SM need
        for (std::size_t r = 0; r < g.depth; ++r) {
          if (r % 2 == 0) word = t.word(r / 2, i);
          const cell c = cell_at(g.width, r, word, q);
          atomicAdd(&icells[c.index], static_cast<unsigned long long>(c.value));
        }
      }
    }
    __syncthreads();
    if (add)
      for (std::size_t c = tid; c < cells; c += sketch_threads) {
        dcells[c] += unquantize(icells[c], k);
        icells[c] = 0;
      }
    if (tid == 0) largest = 0;
    __syncthreads();
  }
  tree[tid] = sq;
  __syncthreads();
  for (std::size_t stride = sketch_threads / 2; stride > 0; stride /= 2) {
    if (tid < stride) tree[tid] += tree[tid + stride];
    __syncthreads();
  }
  if (tid == 0) partial_sq[blockIdx.x] = tree[0];
  for (std::size_t c = tid; c < cells; c += sketch_threads)
    partial[blockIdx.x * cells + c] = poisoned ? quiet_nan() : dcells[c];
}

/// Where the CUDA kernel keeps a block's 2 · cells integer and double cells: shared memory
/// (opting in beyond the default 48 KiB, up to the device's limit: 227 KiB on Hopper), or
/// global memory when they do not fit.
struct sketch_cells_plan {
  std::size_t shared_bytes = 0;  ///< dynamic shared memory per block (0: cells in global memory)
  bool spill = false;            ///< cells in global memory, 2 · cells per block of the wave
};

/// The plan for `cells` cells on `device`, worked out (and the kernel opted in) on the
/// first call for them and remembered: a sketch runs every step.
template <class... T>
sketch_cells_plan plan_cells(std::size_t cells, int device) {
  static std::mutex mutex;
  static std::map<std::pair<int, std::size_t>, sketch_cells_plan> plans;
  std::lock_guard lock(mutex);
  const auto key = std::pair{device, cells};
  if (const auto found = plans.find(key); found != plans.end()) return found->second;
  const std::size_t bytes = 2 * cells * sizeof(unsigned long long);
  cudaFuncAttributes attributes{};
  check_cuda(cudaFuncGetAttributes(&attributes, sketch_kernel_cuda<T...>), "the sketch kernel's attributes");
  int optin = 0;
  check_cuda(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
             "the device's shared memory per block");
  sketch_cells_plan plan{bytes, false};
  if (bytes + attributes.sharedSizeBytes > std::size_t(optin))
    plan = {0, true};
  else if (bytes + attributes.sharedSizeBytes > 48 * 1024)
    check_cuda(cudaFuncSetAttribute(sketch_kernel_cuda<T...>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
               "opting the sketch kernel in to more shared memory");
  return plans[key] = plan;
}
#else
/// OpenMP back end: each (OpenMP) thread runs whole blocks, first + j for j in [0, count).
template <class... T>
struct sketch_block_pass {
  sketch_geometry g;
  tabulation_hash::table_ref t;
  piece_list pieces;
  std::size_t first;
  double* partial;
  double* partial_sq;
  void operator()(std::size_t j) const {
    sketch_block<T...>(g, t, pieces, first + j, partial + j * g.cells(), partial_sq + j);
  }
};
#endif

/// counters += sk(v) for v = a (or a − b) in device memory; returns ||v||². The blocks run
/// in waves of at most sketch_scratch_limit() bytes of partial cells, each wave merged in
/// block order into the running sums.
template <class... T, class... S>
double sketch(const sketch_hashes& hashes, double* counters, const param_view<T, S>&... views) {
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  if (n == 0) return 0.0;
  const auto tables = device_copy(hashes.tab.covering(n));
  const tabulation_hash::table_ref t = tables->ref();
  const sketch_geometry g = sketch_geometry::of(n, hashes.depth, hashes.width);
  const std::size_t cells = g.cells(), blocks = g.blocks();
  const auto pieces = pieces_of(views...);
  const std::size_t table = table_doubles(pieces.size());
#if FDA_THRUST_CUDA
  const sketch_cells_plan plan = plan_cells<T...>(cells, current_device());
  const std::size_t per_block = cells + 1 + (plan.spill ? 2 * cells : 0);  // doubles
#else
  const std::size_t per_block = cells + 1;
#endif
  const std::size_t wave = std::max<std::size_t>(1, smaller(blocks, sketch_scratch_limit() / 8 / per_block));
  double* base = scratch::mine().doubles(table + wave * per_block + cells + 1);
  const piece_list list = upload_pieces(pieces, base);
  double* partial = base + table;
  double* partial_sq = partial + wave * cells;
  double* merged = partial_sq + wave;
  for (std::size_t first = 0; first < blocks; first += wave) {
    const std::size_t count = smaller(wave, blocks - first);
#if FDA_THRUST_CUDA
    auto* spill = plan.spill ? reinterpret_cast<unsigned long long*>(merged + cells + 1) : nullptr;
    sketch_kernel_cuda<T...><<<unsigned(count), unsigned(sketch_threads), plan.shared_bytes, current_device_stream()>>>(
        g, t, list, first, partial, partial_sq, spill);
    check_cuda(cudaGetLastError(), "the sketch kernel did not start");
#else
    launch("sketch", [&] {
      thrust::for_each(policy(), index(0), index(count), sketch_block_pass<T...>{g, t, list, first, partial, partial_sq});
    });
#endif
    launch("sketch", [&] {
      thrust::for_each(policy(), index(0), index(cells + 1),
                       merge_pass{partial, partial_sq, merged, count, cells, first > 0});
    });
  }
  std::vector<double> result(cells + 1);
  download(result.data(), merged, cells + 1);
  finish("sketch");
  for (std::size_t c = 0; c < cells; ++c) counters[c] += result[c];
  return result[cells];
}

/// The device sketch computed serially on the host from host views: bit-identical to the
/// device result (same partition, same arithmetic). For checks on a machine with a GPU.
template <class... T>
double sketch_reference(const sketch_hashes& hashes, double* counters, const param_view<T>&... views) {
  static_assert(sizeof...(T) == 1 || sizeof...(T) == 2);
  const std::size_t n = std::get<0>(std::tie(views...)).size();
  if (n == 0) return 0.0;
  const auto tables = hashes.tab.covering(n);
  const tabulation_hash::table_ref t{tables->t0.data(), tables->t1.data(), tables->t2.data(),
                                     tables->na, tables->nb, tables->n2};
  const sketch_geometry g = sketch_geometry::of(n, hashes.depth, hashes.width);
  const std::vector<piece> host_pieces = pieces_of(views...);
  piece_list list;
  list.count = host_pieces.size();
  list.first = host_pieces[0];
  list.table = host_pieces.data();
  const std::size_t cells = g.cells(), blocks = g.blocks();
  std::vector<double> partial(blocks * cells), partial_sq(blocks), merged(cells + 1);
  for (std::size_t b = 0; b < blocks; ++b)
    sketch_block<T...>(g, t, list, b, partial.data() + b * cells, partial_sq.data() + b);
  const merge_pass merge{partial.data(), partial_sq.data(), merged.data(), blocks, cells};
  for (std::size_t c = 0; c <= cells; ++c) merge(c);
  for (std::size_t c = 0; c < cells; ++c) counters[c] += merged[c];
  return merged[cells];
}

}  // namespace fda::detail::dev

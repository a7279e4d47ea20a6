// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Checkpoints: everything a run needs to continue, in one versioned, checksummed file.
///
/// Turn it on with options::checkpoint_path (and checkpoint_every); set options::resume
/// to continue from the file. fda::train then saves, every checkpoint_every steps and at
/// the end of the run:
///   - the run: policy name, aggregator (its name and settings, as
///     fda::describe_aggregator writes them), K, d, parameter type, seed, steps per
///     epoch, check cadence,
///     the step reached, the step within the round, the counters and the sync log;
///   - the shared state: the global model w0 and the previous one, the policy's state
///     (Θ, calibration, ξ, ...: its monitor's state_fields, fda::monitor_traits) and the
///     aggregator's (momentum, moments: its state's state_fields, fda::aggregator_traits);
///   - every worker: its parameters and, when the worker has them, what its
///     `save(fda::checkpoint_writer&)` writes (optimizer state, RNG, data order),
///     read back by `load(fda::checkpoint_reader&)`.
/// A run of 2N steps and a run of N steps resumed for N more end bit-identical, when the
/// worker saves all of its state.
///
/// File: "FDACKPT\n", format version (u32), byte-order mark (u32), payload size (u64), the
/// payload, FNV-1a 64 of the payload (u64). Every value in the payload carries a type tag,
/// every vector its length, so a file from another build or another run is refused with
/// the field that differs. It is written to a temporary file and renamed over the old one:
/// a crash while saving leaves the previous checkpoint intact. A file that is truncated,
/// corrupt or made by a different run throws fda::checkpoint_error before anything of the
/// run is touched.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "error.hpp"
#include "version.hpp"

namespace fda {

/// A checkpoint file that cannot be read, is corrupt, or belongs to another run.
struct checkpoint_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {

template <class T>
constexpr char type_tag() {
  if constexpr (std::is_same_v<T, bool>) return 'b';
  else if constexpr (std::is_same_v<T, float>) return 'f';
  else if constexpr (std::is_same_v<T, double>) return 'd';
  else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) return char('0' + sizeof(T));  // '1'..'8'
  else if constexpr (std::is_integral_v<T>) return char('A' + sizeof(T));                        // 'B'..'I' 
  else static_assert(sizeof(T) == 0, "fda::checkpoint: only bool, integers, float and double are stored");
}

inline const char* tag_name(char tag) {
  switch (tag) {
    case 'b': return "bool";
    case 'f': return "float";
    case 'd': return "double";
    case 's': return "string";
    default: return tag >= 'A' && tag <= 'I' ? "unsigned integer" : "integer";
  }
}

/// FNV-1a, 64 bits: catches corruption and truncation (not an adversary).
inline std::uint64_t fnv1a(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

inline constexpr char checkpoint_magic[8] = {'F', 'D', 'A', 'C', 'K', 'P', 'T', '\n'};
/// 2: the run record holds the aggregator (name and settings) after the policy. A file of
/// another version is refused by its version, before its payload is parsed.
inline constexpr std::uint32_t checkpoint_version = 2;
inline constexpr std::uint32_t byte_order_mark = 0x01020304;

/// The checkpoint-format policy: a build reads its own format version only, and each
/// format belongs to one range of releases (1: fda 0.1.x; 2: fda 0.2.x), which a refusal
/// names so that the user knows which release can resume the file.
inline std::string checkpoint_writer_release(std::uint32_t version) {
  switch (version) {
    case 1: return "fda 0.1.x";
    case 2: return "fda 0.2.x";
    default: return version > checkpoint_version ? "a newer fda than this one" : "an unknown fda build";
  }
}

}  // namespace detail

/// Appends tagged values to a byte string. A visitor: w(x) stores x (a bool, integer,
/// float, double, std::string or std::vector of those).
class checkpoint_writer {
 public:
  /// Stores a bool, an integer, a float or a double (with its type tag).
  template <class T>
    requires std::is_arithmetic_v<T>
  void operator()(const T& x) {
    bytes_.push_back(detail::type_tag<T>());
    raw(&x, sizeof x);
  }
  /// Stores a vector: element type, length, elements.
  template <class T>
  void operator()(const std::vector<T>& v) {
    if constexpr (std::is_same_v<T, bool>) {
      (*this)(std::vector<unsigned char>(v.begin(), v.end()));
    } else {
      bytes_.push_back('[');
      bytes_.push_back(detail::type_tag<T>());
      const std::uint64_t n = v.size();
      raw(&n, sizeof n);
      raw(v.data(), n * sizeof(T));
    }
  }
  /// Stores a string: length, bytes.
  void operator()(std::string_view s) {
    bytes_.push_back('s');
    const std::uint64_t n = s.size();
    raw(&n, sizeof n);
    raw(s.data(), n);
  }
  /// Stores a string.
  void operator()(const std::string& s) { (*this)(std::string_view(s)); }
  /// Stores a string.
  void operator()(const char* s) { (*this)(std::string_view(s)); }

  /// n elements of T from p, as a vector (parameters straight from a view).
  template <class T>
  void elements(const T* p, std::size_t n, bool first, std::uint64_t total) {
    if (first) {
      bytes_.push_back('[');
      bytes_.push_back(detail::type_tag<T>());
      raw(&total, sizeof total);
    }
    raw(p, n * sizeof(T));
  }

  /// What was written so far.
  const std::string& bytes() const { return bytes_; }
  /// Moves out what was written (the writer is empty afterwards).
  std::string take() { return std::move(bytes_); }

 private:
  void raw(const void* p, std::size_t n) { bytes_.append(static_cast<const char*>(p), n); }
  std::string bytes_;
};

/// Reads what a checkpoint_writer wrote, in the same order. r(x) loads x; every mismatch
/// (type, vector length, end of data) throws checkpoint_error naming the part and the field.
class checkpoint_reader {
 public:
  /// Reads `bytes` (kept by reference: they must outlive the reader); `part` names them in errors.
  checkpoint_reader(std::string_view bytes, std::string part) : bytes_(bytes), part_(std::move(part)) {}
  checkpoint_reader(std::string&&, std::string) = delete;  // would dangle

  /// Loads a bool, an integer, a float or a double; its type must be the stored one.
  template <class T>
    requires std::is_arithmetic_v<T>
  void operator()(T& x) {
    expect_tag(detail::type_tag<T>());
    raw(&x, sizeof x);
  }
  /// A vector already sized must keep its size (a model, a moment); an empty one takes the
  /// stored length.
  template <class T>
  void operator()(std::vector<T>& v) {
    if constexpr (std::is_same_v<T, bool>) {
      std::vector<unsigned char> c(v.begin(), v.end());
      (*this)(c);
      v.assign(c.begin(), c.end());
    } else {
      const std::uint64_t n = vector_header<T>(v.empty() ? std::uint64_t(-1) : v.size());
      v.resize(n);
      raw(v.data(), n * sizeof(T));
    }
  }
  /// Loads a string.
  void operator()(std::string& s) {
    expect_tag('s');
    std::uint64_t n = 0;
    raw(&n, sizeof n);
    need(n);
    s.assign(bytes_.substr(pos_, n));
    pos_ += n;
  }
  /// Loads and returns a value of type T.
  template <class T>
  T get() {
    T x{};
    (*this)(x);
    return x;
  }

  /// Reads a vector of exactly `total` T written by checkpoint_writer::elements, handing
  /// it out in pieces: f(p, n) for consecutive runs (p points into the checkpoint's bytes).
  template <class T>
  void elements(std::uint64_t total, auto&& f) {
    vector_header<T>(total);
    need(total * sizeof(T));
    f(bytes_.data() + pos_, total);
    pos_ += total * sizeof(T);
  }

  /// Throws unless every byte was read (a longer record than this build writes).
  void finish() const {
    if (pos_ != bytes_.size())
      throw checkpoint_error(detail::concat("fda: checkpoint: ", part_, " holds ", bytes_.size() - pos_,
                                            " bytes more than this program reads: it was written by "
                                            "a different worker or policy"));
  }

  /// The name of what is read, as error messages say it ("worker 3's part").
  const std::string& part() const { return part_; }

 private:
  template <class T>
  std::uint64_t vector_header(std::uint64_t expected) {
    expect_tag('[');
    expect_tag(detail::type_tag<T>());
    std::uint64_t n = 0;
    raw(&n, sizeof n);
    if (expected != std::uint64_t(-1) && n != expected)
      throw checkpoint_error(detail::concat("fda: checkpoint: ", part_, ": a vector at byte ", pos_,
                                            " has ", n, " elements where this run has ", expected));
    return n;
  }
  void expect_tag(char tag) {
    need(1);
    const char found = bytes_[pos_];
    if (found != tag)
      throw checkpoint_error(detail::concat("fda: checkpoint: ", part_, ": expected a ",
                                            tag == '[' ? "vector" : detail::tag_name(tag), " at byte ", pos_,
                                            ", found a ", found == '[' ? "vector" : detail::tag_name(found),
                                            ": the file was written by a different program or run"));
    ++pos_;
  }
  void need(std::uint64_t n) const {
    if (n > bytes_.size() - pos_)
      throw checkpoint_error(detail::concat("fda: checkpoint: ", part_, " ends at byte ", bytes_.size(),
                                            " but needs ", n, " more from byte ", pos_, ": truncated"));
  }
  void raw(void* p, std::size_t n) {
    need(n);
    std::memcpy(p, bytes_.data() + pos_, n);
    pos_ += n;
  }

  std::string_view bytes_;
  std::size_t pos_ = 0;
  std::string part_;
};

/// A worker that saves and restores its own state beyond its parameters.
template <class W>
concept checkpointable_worker = requires(W& w, checkpoint_writer& out, checkpoint_reader& in) {
  w.save(out);
  w.load(in);
};

namespace detail {

/// Writes payload to `path` atomically: a temporary file next to it, then a rename.
inline void write_checkpoint_file(const std::filesystem::path& path, std::string_view payload) {
  const auto tmp = std::filesystem::path(path.string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw checkpoint_error(concat("fda: checkpoint: cannot write ", tmp.string()));
    const std::uint64_t size = payload.size(), sum = fnv1a(payload);
    out.write(checkpoint_magic, sizeof checkpoint_magic);
    out.write(reinterpret_cast<const char*>(&checkpoint_version), 4);
    out.write(reinterpret_cast<const char*>(&byte_order_mark), 4);
    out.write(reinterpret_cast<const char*>(&size), 8);
    out.write(payload.data(), std::streamsize(payload.size()));
    out.write(reinterpret_cast<const char*>(&sum), 8);
    out.flush();
    if (!out) throw checkpoint_error(concat("fda: checkpoint: writing ", tmp.string(), " failed (disk full?)"));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw checkpoint_error(concat("fda: checkpoint: cannot rename ", tmp.string(), " to ", path.string(), ": ", ec.message()));
}

/// Verifies the bytes of a checkpoint file (`file` names it in errors); returns the payload.
inline std::string checkpoint_payload(std::string_view all, const std::string& file) {
  constexpr std::size_t header = 8 + 4 + 4 + 8, trailer = 8;
  if (all.size() < header + trailer || std::memcmp(all.data(), checkpoint_magic, 8) != 0)
    throw checkpoint_error(concat("fda: checkpoint: ", file, " is not an fda checkpoint (",
                                  all.size() < 8 ? "too short" : "wrong magic bytes", ")"));
  std::uint32_t version = 0, mark = 0;
  std::uint64_t size = 0, sum = 0;
  std::memcpy(&version, all.data() + 8, 4);
  std::memcpy(&mark, all.data() + 12, 4);
  std::memcpy(&size, all.data() + 16, 8);
  if (version != checkpoint_version)
    throw checkpoint_error(concat("fda: checkpoint: ", file, " has format version ", version, ", written by ",
                                  checkpoint_writer_release(version), "; this build (fda ", FDA_VERSION,
                                  ") reads format version ", checkpoint_version, " only: resume it with ",
                                  checkpoint_writer_release(version), ", or start the run again"));
  if (mark != byte_order_mark)
    throw checkpoint_error(concat("fda: checkpoint: ", file, " was written on a machine of another byte order"));
  if (size != all.size() - header - trailer)
    throw checkpoint_error(concat("fda: checkpoint: ", file, " is ", all.size(), " bytes but its header announces ",
                                  size + header + trailer, ": ", size + header + trailer > all.size() ? "truncated" : "extra bytes"));
  std::memcpy(&sum, all.data() + header + size, 8);
  std::string payload(all.substr(header, size));
  if (fnv1a(payload) != sum)
    throw checkpoint_error(concat("fda: checkpoint: ", file, " is corrupt: its checksum does not match its contents"));
  return payload;
}

/// Reads and verifies a checkpoint file; returns its payload.
inline std::string read_checkpoint_file(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw checkpoint_error(concat("fda: checkpoint: cannot open ", file, " (to resume, it must exist)"));
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return checkpoint_payload(all, file);
}

}  // namespace detail
}  // namespace fda

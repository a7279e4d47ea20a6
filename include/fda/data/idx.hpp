// SPDX-License-Identifier: Apache-2.0
#pragma once
/// IDX files (MNIST, Fashion-MNIST, ...), gzip-compressed or plain, and labelled data sets
/// built from them. An opt-in adapter: it needs zlib, so <fda/fda.hpp> leaves it out; link
/// the CMake target fda::idx (fda::fda plus ZLIB::ZLIB), or zlib yourself (-lz).
///
/// An IDX file is a 4-byte magic {0, 0, type, ndims}, ndims big-endian uint32 dimensions,
/// then the product of the dimensions elements of that type, row-major. Only type 0x08
/// (unsigned byte) is read: every data set of this family uses it. Anything that does not
/// match the header exactly (short data, extra bytes, a corrupt gzip stream) throws
/// fda::data::data_error with the file name and the problem: a half-read data set would
/// otherwise train silently on garbage.
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../error.hpp"

namespace fda::data {

/// A data file that cannot be read or does not hold what its header says.
struct data_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The contents of one IDX file: its dimensions and its bytes, row-major.
struct idx_array {
  std::vector<std::size_t> dims;   ///< 1 to 4 dimensions, none 0
  std::vector<std::uint8_t> data;  ///< the product of dims elements, row-major
};

/// Labelled images: image i is images[i·rows·cols, (i+1)·rows·cols), pixels scaled to [0, 1].
struct dataset {
  std::size_t count = 0;  ///< examples
  std::size_t rows = 0;   ///< image height
  std::size_t cols = 0;   ///< image width
  std::vector<float> images;         ///< count · rows · cols pixels in [0, 1], image after image
  std::vector<std::uint8_t> labels;  ///< count labels
  std::size_t classes = 0;  ///< labels lie in [0, classes)

  /// rows · cols, the pixels of one image.
  std::size_t pixels() const { return rows * cols; }
  /// The pixels of image i (i < count).
  std::span<const float> image(std::size_t i) const {
    return std::span<const float>(images).subspan(i * pixels(), pixels());
  }
};

/// Where Debian's dataset-fashion-mnist package puts the files.
inline const std::filesystem::path debian_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

namespace detail {

template <class... Parts>
[[noreturn]] void fail_named(std::string_view name, const Parts&... parts) {
  throw data_error(fda::detail::concat(name, ": ", parts...));
}

template <class... Parts>
[[noreturn]] void fail_file(const std::filesystem::path& file, const Parts&... parts) {
  fail_named(file.string(), parts...);
}

/// "0x" and two hex digits per byte: hex({0x1f, 0x8b}) == "0x1f8b".
inline std::string hex(std::span<const std::uint8_t> bytes) {
  const char* digits = "0123456789abcdef";
  std::string out = "0x";
  for (const unsigned b : bytes) out += {digits[b >> 4], digits[b & 15]};
  return out;
}

inline const char* idx_type_name(unsigned code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return nullptr;
  }
}

/// "60000x28x28"
inline std::string dims_text(const std::vector<std::size_t>& dims) {
  std::string out;
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? "x" : "") + std::to_string(dims[i]);
  return out;
}

/// The bytes of an IDX file held in memory, as the parser reads them: inflated when the
/// buffer starts with the gzip magic 1f 8b (one member or several concatenated, as
/// `cat a.gz b.gz` makes), passed through unchanged otherwise. Errors name `name`.
class idx_source {
 public:
  idx_source(std::span<const std::uint8_t> bytes, std::string_view name)
      : in_(bytes), name_(name), gzip_(bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
    if (!gzip_) return;
    z_ = std::make_unique<z_stream>();  // zalloc, zfree, opaque null: zlib's allocator
    if (inflateInit2(z_.get(), 16 + MAX_WBITS) != Z_OK) {  // 16 +: a gzip wrapper, not zlib's
      z_.reset();
      fail_named(name_, "zlib could not allocate its state");
    }
  }
  idx_source(const idx_source&) = delete;
  idx_source& operator=(const idx_source&) = delete;
  ~idx_source() {
    if (z_) inflateEnd(z_.get());
  }

  /// Reads up to n bytes; fewer only at the end of the data. Throws on a corrupt gzip
  /// stream: bad deflate data, a failed CRC or length check, a stream that ends early, or
  /// bytes after the last member that do not start another one.
  std::size_t read(std::uint8_t* out, std::size_t n) {
    if (!gzip_) {
      const std::size_t k = std::min(n, in_.size() - pos_);
      std::copy_n(in_.data() + pos_, k, out);
      pos_ += k;
      return k;
    }
    constexpr std::size_t chunk = std::size_t{1} << 30;  // avail_in, avail_out are 32-bit
    std::size_t got = 0;
    while (got < n && !ended_) {
      z_->next_in = const_cast<Bytef*>(in_.data() + pos_);  // zlib's API is not const-correct
      z_->avail_in = uInt(std::min(in_.size() - pos_, chunk));
      z_->next_out = out + got;
      z_->avail_out = uInt(std::min(n - got, chunk));
      const uInt in_before = z_->avail_in, out_before = z_->avail_out;
      const int r = inflate(z_.get(), Z_NO_FLUSH);
      pos_ += in_before - z_->avail_in;
      got += out_before - z_->avail_out;
      if (r == Z_OK) continue;
      if (r == Z_STREAM_END) {  // one member ends: the data ends, or another member starts
        if (pos_ == in_.size()) {
          ended_ = true;
        } else if (in_.size() - pos_ >= 2 && in_[pos_] == 0x1f && in_[pos_ + 1] == 0x8b) {
          inflateReset(z_.get());
        } else {
          fail_named(name_, "corrupt gzip stream: ", in_.size() - pos_,
                     " bytes after its end that do not start another gzip member");
        }
        continue;
      }
      if (r == Z_BUF_ERROR && z_->avail_in == 0)  // no progress possible: the input ran out
        fail_named(name_, "corrupt gzip stream: it ends early (zlib: unexpected end of file)");
      if (r == Z_MEM_ERROR) fail_named(name_, "zlib ran out of memory");
      fail_named(name_, "corrupt gzip stream (zlib: ", z_->msg ? z_->msg : "error ", z_->msg ? "" : std::to_string(r),
                 ")");
    }
    return got;
  }

  /// Reads to the end, returning how many bytes were left (the gzip checks still run).
  std::size_t drain() {
    std::array<std::uint8_t, 1u << 14> sink;
    std::size_t extra = 0;
    while (const std::size_t r = read(sink.data(), sink.size())) extra += r;
    return extra;
  }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
  std::string_view name_;
  bool gzip_;
  bool ended_ = false;
  std::unique_ptr<z_stream> z_;
};

/// The whole contents of a file; data_error if it is missing, a directory or unreadable.
inline std::vector<std::uint8_t> read_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto st = std::filesystem::status(file, ec);
  if (!std::filesystem::exists(st)) fail_file(file, "cannot open: no such file");
  if (std::filesystem::is_directory(st)) fail_file(file, "cannot open: it is a directory");
  struct closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  errno = 0;
  const std::unique_ptr<std::FILE, closer> f(std::fopen(file.string().c_str(), "rb"));
  if (!f) {
    const int err = errno;
    fail_file(file, "cannot open: ", err ? std::generic_category().message(err) : std::string("unknown error"));
  }
  std::vector<std::uint8_t> bytes;
  if (const auto size = std::filesystem::file_size(file, ec); !ec) bytes.reserve(size);
  std::array<std::uint8_t, 1u << 16> buf;
  while (const std::size_t r = std::fread(buf.data(), 1, buf.size(), f.get()))
    bytes.insert(bytes.end(), buf.data(), buf.data() + r);
  if (std::ferror(f.get())) {
    const int err = errno;
    fail_file(file, "read error: ", err ? std::generic_category().message(err) : std::string("unknown error"));
  }
  return bytes;
}

/// Images must be 3-D: count × rows × cols.
inline void check_images(const idx_array& images, std::string_view images_name) {
  if (images.dims.size() != 3)
    fail_named(images_name, "expected 3 dimensions (count x rows x cols) for images, found ", images.dims.size(),
               " (", dims_text(images.dims), ")");
}

/// Checks the labels (1-D, one per image) and scales the pixels to [0, 1].
inline dataset make_dataset(idx_array images, std::string_view images_name, idx_array labels,
                            std::string_view labels_name) {
  check_images(images, images_name);
  if (labels.dims.size() != 1)
    fail_named(labels_name, "expected 1 dimension (count) for labels, found ", labels.dims.size(), " (",
               dims_text(labels.dims), ")");
  if (images.dims[0] != labels.dims[0])
    throw data_error(fda::detail::concat(images_name, " holds ", images.dims[0], " images but ", labels_name,
                                         " holds ", labels.dims[0], " labels: the counts must agree"));
  // Labels are unsigned bytes (type 0x08 is checked by read_idx), so every label is < 256;
  // dimensions are never 0, so there is at least one.
  dataset out;
  out.count = images.dims[0];
  out.rows = images.dims[1];
  out.cols = images.dims[2];
  out.labels = std::move(labels.data);
  out.classes = std::size_t(*std::max_element(out.labels.begin(), out.labels.end())) + 1;
  std::array<float, 256> scale{};
  for (std::size_t v = 0; v < 256; ++v) scale[v] = float(v) / 255.0f;
  out.images.resize(images.data.size());
  std::transform(images.data.begin(), images.data.end(), out.images.begin(), [&](std::uint8_t v) { return scale[v]; });
  return out;
}

}  // namespace detail

/// Parses a whole IDX file held in memory, gzip-compressed or plain; `name` (a file name)
/// prefixes every error message. Throws data_error unless the bytes are exactly a valid
/// header and the number of bytes it announces.
inline idx_array read_idx(std::span<const std::uint8_t> bytes, std::string_view name = "IDX data") {
  detail::idx_source in(bytes, name);

  std::array<std::uint8_t, 4> magic{};
  if (const std::size_t got = in.read(magic.data(), magic.size()); got < magic.size())
    detail::fail_named(name, "truncated: the file has ", got, " bytes, fewer than the 4-byte IDX magic number");
  if (magic[0] != 0 || magic[1] != 0)
    detail::fail_named(name, "not an IDX file: bad magic number ", detail::hex(magic),
                       " (an IDX file starts with two zero bytes)");
  if (magic[2] != 0x08) {
    const char* type = detail::idx_type_name(magic[2]);
    detail::fail_named(name, "unsupported IDX type code ", detail::hex(std::span(magic).subspan(2, 1)), " (",
                       type ? type : "not an IDX type", "); only 0x08 (unsigned byte) is supported");
  }
  const std::size_t ndims = magic[3];
  if (ndims < 1 || ndims > 4)
    detail::fail_named(name, "bad IDX header: ", ndims, " dimensions; it must be 1 to 4");

  idx_array out;
  std::array<std::uint8_t, 16> raw{};
  if (const std::size_t got = in.read(raw.data(), 4 * ndims); got < 4 * ndims)
    detail::fail_named(name, "truncated: the header announces ", ndims, " dimensions (", 4 * ndims,
                       " bytes) but the file has only ", got, " bytes after the magic number");
  std::size_t total = 1;
  for (std::size_t i = 0; i < ndims; ++i) {
    const std::size_t d = std::size_t(raw[4 * i]) << 24 | std::size_t(raw[4 * i + 1]) << 16 |
                          std::size_t(raw[4 * i + 2]) << 8 | std::size_t(raw[4 * i + 3]);
    if (d == 0) detail::fail_named(name, "bad IDX header: dimension ", i + 1, " of ", ndims, " is 0");
    out.dims.push_back(d);
    if (total > std::numeric_limits<std::size_t>::max() / d)
      detail::fail_named(name, "bad IDX header: dimensions ", detail::dims_text(out.dims),
                         "... hold more elements than fit in std::size_t");
    total *= d;
  }

  // Grow as the bytes arrive rather than trusting the header with one huge allocation:
  // 64 KiB first, then doubling up to 16 MiB a step, so that a few bytes claiming to be
  // gigabytes cost little.
  constexpr std::size_t first = std::size_t{1} << 16, step = std::size_t{1} << 24;
  std::size_t got = 0;
  while (got < total) {
    const std::size_t want = std::min(std::clamp(got, first, step), total - got);
    out.data.resize(got + want);
    const std::size_t r = in.read(out.data.data() + got, want);
    got += r;
    if (r < want) break;
  }
  if (got < total)
    detail::fail_named(name, "truncated: header says ", detail::dims_text(out.dims), " unsigned bytes (", total,
                       " bytes) but the file has ", got, " bytes of data");
  if (const std::size_t extra = in.drain())
    detail::fail_named(name, "trailing garbage: ", extra, " bytes after the ", total, " bytes of data the header (",
                       detail::dims_text(out.dims), ") announces");
  return out;
}

/// Reads a whole IDX file, gzip-compressed or plain. Throws data_error unless the file is
/// exactly a valid header and the number of bytes it announces.
inline idx_array read_idx(const std::filesystem::path& file) {
  const std::vector<std::uint8_t> bytes = detail::read_file(file);
  return read_idx(bytes, file.string());
}

/// Images (3-D: count × rows × cols) and their labels (1-D: count), both IDX files in
/// memory (gzip or plain), scaled to [0, 1]. `classes` is the largest label + 1.
inline dataset load_idx_dataset(std::span<const std::uint8_t> images, std::span<const std::uint8_t> labels,
                                std::string_view images_name = "images", std::string_view labels_name = "labels") {
  idx_array i = read_idx(images, images_name);
  detail::check_images(i, images_name);
  return detail::make_dataset(std::move(i), images_name, read_idx(labels, labels_name), labels_name);
}

/// Images (3-D: count × rows × cols) and their labels (1-D: count), scaled to [0, 1].
/// `classes` is the largest label + 1.
inline dataset load_idx_dataset(const std::filesystem::path& images_path, const std::filesystem::path& labels_path) {
  idx_array images = read_idx(images_path);
  detail::check_images(images, images_path.string());
  return detail::make_dataset(std::move(images), images_path.string(), read_idx(labels_path), labels_path.string());
}

/// Fashion-MNIST from `dir` in the upstream/Debian layout: {train,t10k}-{images-idx3,
/// labels-idx1}-ubyte.gz (or the same names without .gz, when only those exist).
/// Checks the shape (28×28) and the labels (< 10); `classes` is 10.
inline dataset load_fashion_mnist(const std::filesystem::path& dir = debian_fashion_mnist_dir, bool train = true) {
  const std::string prefix = train ? "train" : "t10k";
  auto pick = [&](const std::string& stem) {
    const auto gz = dir / (stem + ".gz");
    const auto plain = dir / stem;
    return !std::filesystem::exists(gz) && std::filesystem::exists(plain) ? plain : gz;
  };
  const auto images_path = pick(prefix + "-images-idx3-ubyte");
  const auto labels_path = pick(prefix + "-labels-idx1-ubyte");
  dataset out = load_idx_dataset(images_path, labels_path);
  if (out.rows != 28 || out.cols != 28)
    detail::fail_file(images_path, "Fashion-MNIST images are 28x28, this file holds ", out.rows, "x", out.cols);
  for (std::size_t i = 0; i < out.count; ++i)
    if (out.labels[i] >= 10)
      detail::fail_file(labels_path, "label ", unsigned(out.labels[i]), " at index ", i,
                        " is outside Fashion-MNIST's 10 classes");
  out.classes = 10;
  return out;
}

/// The examples at `indices`, in that order (repeats allowed); `classes` is kept.
inline dataset subset(const dataset& from, std::span<const std::size_t> indices) {
  dataset out;
  out.count = indices.size();
  out.rows = from.rows;
  out.cols = from.cols;
  out.classes = from.classes;
  out.labels.reserve(indices.size());
  out.images.reserve(indices.size() * from.pixels());
  for (std::size_t j = 0; j < indices.size(); ++j) {
    const std::size_t i = indices[j];
    if (i >= from.count)
      fda::detail::fail("fda::data::subset: indices[", j, "] = ", i, " is out of range: the data set has ",
                        from.count, " examples");
    out.labels.push_back(from.labels[i]);
    const auto img = from.image(i);
    out.images.insert(out.images.end(), img.begin(), img.end());
  }
  return out;
}

/// The first n examples (a quick smoke-test run); n must not exceed the count.
inline dataset head(const dataset& from, std::size_t n) {
  if (n > from.count)
    fda::detail::fail("fda::data::head: n = ", n, " is more than the ", from.count, " examples of the data set");
  dataset out;
  out.count = n;
  out.rows = from.rows;
  out.cols = from.cols;
  out.classes = from.classes;
  out.labels.assign(from.labels.begin(), from.labels.begin() + std::ptrdiff_t(n));
  out.images.assign(from.images.begin(), from.images.begin() + std::ptrdiff_t(n * from.pixels()));
  return out;
}

}  // namespace fda::data

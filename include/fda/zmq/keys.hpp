// SPDX-License-Identifier: Apache-2.0
#pragma once
/// CURVE key files of fda's ZeroMQ transport: made, written and read back with every check a
/// hand-edited or mis-copied file needs (libzmq's C API; CURVE needs a libzmq built with
/// libsodium, which Debian's libzmq3-dev is).
///
/// Key file format: a text file of at most 4096 bytes. Blank lines and lines starting with
/// '#' are comments; exactly one other line holds the key, 40 characters of Z85 text (32
/// bytes), trailing spaces, tabs and a CR (a file edited on Windows) ignored. Public keys are
/// in `<name>.pub` (mode 0644), secret keys in `<name>.key` (mode 0600: a secret file that
/// grants group or others any permission is refused when read). fda-keys writes one comment
/// line first saying what the file is:
///
///     # fda CURVE secret key of worker 3: keep it private (mode 0600)
///     98U&)<&T<aB42MT@emXmbb6BN8dke@?mSj!-ZW7e
///
/// A run's directory (write_run_keys) holds hub.key, hub.pub, `worker-<r>.key` and
/// `worker-<r>.pub` for each rank r: the hub needs hub.key and every worker-*.pub (its
/// allow-list), worker r needs `worker-<r>.key`, `worker-<r>.pub` and hub.pub.
#include <zmq.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fda/error.hpp>

namespace fda {

/// A CURVE key pair as Z85 text, 40 characters each.
struct curve_key_pair {
  std::string public_key;  ///< shared with the peers
  std::string secret_key;  ///< kept by its owner only
};

/// True when libzmq was built with CURVE (libsodium): without it only an insecure transport works.
inline bool curve_available() { return zmq_has("curve") != 0; }

namespace detail {

inline constexpr std::size_t z85_key_chars = 40;
inline constexpr std::uintmax_t max_key_file_bytes = 4096;  // a key and a few comment lines
inline constexpr std::size_t max_key_workers = 100000;

inline std::string errno_text(int err) { return std::generic_category().message(err); }

/// "0640": the permission bits as chmod takes them.
inline std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", unsigned(mode & 07777));
  return text;
}

[[noreturn]] inline void key_file_fail(const std::filesystem::path& file, const std::string& what) {
  fail("fda: key file ", file.string(), ": ", what);
}

/// Empty when `key` is 40 characters of valid Z85 (libzmq decodes it to 32 bytes), else what is
/// wrong with it. The offending character is shown only for a public key: a secret stays out of
/// messages and logs.
inline std::string z85_key_problem(const std::string& key, bool secret) {
  if (key.size() != z85_key_chars)
    return concat("has ", key.size(), " characters; a Z85 CURVE key has ", z85_key_chars);
  static constexpr const char* alphabet =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (std::string_view(alphabet).find(key[i]) != std::string_view::npos) continue;
    const auto byte = static_cast<unsigned char>(key[i]);
    std::string shown;
    if (!secret) shown = byte >= 0x20 && byte < 0x7f ? concat(" ('", key[i], "')") : concat(" (byte ", int(byte), ")");
    return concat("has a non-Z85 character at position ", i + 1, shown);
  }
  std::uint8_t decoded[32];
  if (zmq_z85_decode(decoded, key.c_str()) == nullptr)
    return "is not valid Z85 (a 5-character group is larger than 32 bits)";
  return {};
}

/// The one key line of `text` (the file's contents): comments and blank lines skipped, trailing
/// whitespace and CR dropped.
inline std::string key_line_of(const std::filesystem::path& file, const std::string& text, bool secret) {
  std::string key;
  std::size_t key_line = 0, line_no = 0;
  for (std::size_t from = 0; from < text.size();) {
    const std::size_t eol = std::min(text.find('\n', from), text.size());
    std::string line = text.substr(from, eol - from);
    from = eol + 1;
    ++line_no;
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (key_line != 0)
      key_file_fail(file, concat("lines ", key_line, " and ", line_no,
                                 " both hold text; a key file holds exactly one key line ('#' starts a comment)"));
    key_line = line_no;
    key = std::move(line);
  }
  if (key_line == 0)
    key_file_fail(file, text.empty() ? "is empty; it should hold a 40-character Z85 CURVE key"
                                     : "holds no key line, only comments and blank lines");
  if (const std::string why = z85_key_problem(key, secret); !why.empty())
    key_file_fail(file, concat("line ", key_line, ' ', why));
  return key;
}

/// Reads a key file's contents after checking, on the opened file itself, that it is a regular
/// file of at most 4096 bytes and, for a secret, that group and others have no permission.
inline std::string read_key_text(const std::filesystem::path& file, bool secret) {
  struct stat st{};
  if (::stat(file.c_str(), &st) != 0)
    key_file_fail(file, errno == ENOENT ? std::string("does not exist") : "cannot be examined: " + errno_text(errno));
  if (!S_ISREG(st.st_mode))
    key_file_fail(file, S_ISDIR(st.st_mode) ? "is a directory, not a key file" : "is not a regular file");
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) key_file_fail(file, "cannot be opened for reading: " + errno_text(errno));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_it{fd};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) key_file_fail(file, "is not a regular file");
  if (secret && (st.st_mode & 077) != 0)
    key_file_fail(file, concat("is a secret key but its mode ", mode_text(st.st_mode),
                               " grants group or others access; only its owner may read it: run chmod 600 ",
                               file.string()));
  if (std::uintmax_t(st.st_size) > max_key_file_bytes)
    key_file_fail(file, concat("has ", st.st_size, " bytes; a key file has at most ", max_key_file_bytes,
                               " (is it the right file?)"));
  std::string text(max_key_file_bytes + 1, '\0');  // one byte more: a file that grew since is caught
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) key_file_fail(file, "cannot be read: " + errno_text(errno));
    if (n == 0) break;
    got += std::size_t(n);
  }
  if (got > max_key_file_bytes)
    key_file_fail(file, concat("has more than ", max_key_file_bytes, " bytes; a key file has at most ",
                               max_key_file_bytes));
  text.resize(got);
  return text;
}

inline void require_key_workers(const char* where, std::size_t workers) {
  if (workers < 1 || workers > max_key_workers)
    fail(where, ": workers = ", workers, " is invalid: it must be in [1, ", max_key_workers, "]");
}

}  // namespace detail

/// A fresh CURVE key pair. Throws fda::invalid_argument when libzmq was built without CURVE.
inline curve_key_pair make_curve_key_pair() {
  if (!curve_available())
    detail::fail("fda: libzmq was built without CURVE (libsodium), so it cannot make CURVE keys; "
                 "install a libzmq with CURVE (Debian: libzmq3-dev)");
  char public_key[41] = {}, secret_key[41] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0)
    detail::fail("fda: zmq_curve_keypair failed: ", zmq_strerror(zmq_errno()));
  return {public_key, secret_key};
}

/// The public key (Z85) of the secret key `secret_z85` (Z85): checks that a .key and a .pub
/// belong together. Throws fda::invalid_argument when `secret_z85` is not a Z85 CURVE key
/// (without echoing it) or libzmq has no CURVE.
inline std::string public_key_of(const std::string& secret_z85) {
  if (const std::string why = detail::z85_key_problem(secret_z85, true); !why.empty())
    detail::fail("fda::public_key_of: the secret key ", why);
  if (!curve_available()) detail::fail("fda::public_key_of: libzmq was built without CURVE (libsodium)");
  char public_key[41] = {};
  if (zmq_curve_public(public_key, secret_z85.c_str()) != 0)
    detail::fail("fda::public_key_of: zmq_curve_public failed: ", zmq_strerror(zmq_errno()));
  return public_key;
}

/// The Z85 key of the public key file `file` (format: the header comment). Throws
/// fda::invalid_argument naming the file and what is wrong with it.
inline std::string read_public_key(const std::filesystem::path& file) {
  return detail::key_line_of(file, detail::read_key_text(file, false), false);
}

/// The Z85 key of the secret key file `file`, which only its owner may access (mode 0600 or
/// 0400): a file that grants group or others any permission is refused, with the chmod that
/// fixes it. Throws fda::invalid_argument naming the file and what is wrong with it; the key
/// itself never appears in a message.
inline std::string read_secret_key(const std::filesystem::path& file) {
  return detail::key_line_of(file, detail::read_key_text(file, true), true);
}

/// Writes `key` (Z85, 40 characters) to `file`, after `comment` (each of its lines written with
/// a leading "# " unless it starts with '#'; empty: none). A secret file is created with mode
/// 0600 from the start (never readable by others, whatever the umask), a public one 0644.
/// An existing file is refused unless `overwrite`, which removes it first. Throws
/// fda::invalid_argument naming the file.
inline void write_key_file(const std::filesystem::path& file, const std::string& key, const std::string& comment,
                           bool secret, bool overwrite = false) {
  if (const std::string why = detail::z85_key_problem(key, secret); !why.empty())
    detail::key_file_fail(file, "refusing to write a key that " + why);
  std::string text;
  for (std::size_t from = 0; from < comment.size();) {
    const std::size_t eol = std::min(comment.find('\n', from), comment.size());
    const std::string line = comment.substr(from, eol - from);
    text += (line.starts_with("#") ? "" : "# ") + line + "\n";
    from = eol + 1;
  }
  text += key + "\n";
  struct stat st{};
  if (::lstat(file.c_str(), &st) == 0) {
    if (!overwrite) detail::key_file_fail(file, "already exists; not overwritten (fda-keys --force replaces it)");
    if (S_ISDIR(st.st_mode)) detail::key_file_fail(file, "is a directory; not replaced by a key file");
    if (::unlink(file.c_str()) != 0) detail::key_file_fail(file, "cannot be removed: " + detail::errno_text(errno));
  }
  const mode_t mode = secret ? 0600 : 0644;
  const int fd = ::open(file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0)
    detail::key_file_fail(file, errno == EEXIST ? std::string("already exists; not overwritten")
                                                : "cannot be created: " + detail::errno_text(errno));
  int err = ::fchmod(fd, mode) == 0 ? 0 : errno;  // the umask may have taken bits of 0644 away
  for (std::size_t done = 0; err == 0 && done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno != EINTR) err = errno;
    if (n > 0) done += std::size_t(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(file.c_str());  // no half-written key left behind
    detail::key_file_fail(file, "cannot be written: " + detail::errno_text(err));
  }
}

/// `dir`/hub.key: the hub's secret key.
inline std::filesystem::path hub_secret_key_file(const std::filesystem::path& dir) { return dir / "hub.key"; }

/// `dir`/hub.pub: the hub's public key, which every worker needs.
inline std::filesystem::path hub_public_key_file(const std::filesystem::path& dir) { return dir / "hub.pub"; }

/// `dir/worker-<rank>.key`: worker `rank`'s secret key.
inline std::filesystem::path worker_secret_key_file(const std::filesystem::path& dir, std::size_t rank) {
  return dir / ("worker-" + std::to_string(rank) + ".key");
}

/// `dir/worker-<rank>.pub`: worker `rank`'s public key, which the hub needs.
inline std::filesystem::path worker_public_key_file(const std::filesystem::path& dir, std::size_t rank) {
  return dir / ("worker-" + std::to_string(rank) + ".pub");
}

/// Writes a run's keys to `dir` (created with mode 0700 when new; missing parents too, with the
/// umask's modes): hub.key, hub.pub, `worker-<r>.key` and `worker-<r>.pub` for r in [0, workers).
/// `workers` must be in [1, 100000]. Unless `overwrite`, refuses before writing anything when
/// one of these files exists, naming it. Throws fda::invalid_argument; a failure part way
/// (a full disk) can leave some files written.
inline void write_run_keys(const std::filesystem::path& dir, std::size_t workers, bool overwrite = false) {
  detail::require_key_workers("fda::write_run_keys", workers);
  std::error_code ec;
  const auto status = std::filesystem::status(dir, ec);
  const bool exists = std::filesystem::exists(status);
  if (exists && !std::filesystem::is_directory(status))
    detail::fail("fda: key directory ", dir.string(), " exists and is not a directory");
  if (exists && !overwrite) {
    std::vector<std::filesystem::path> targets{hub_secret_key_file(dir), hub_public_key_file(dir)};
    for (std::size_t r = 0; r < workers; ++r)
      targets.insert(targets.end(), {worker_secret_key_file(dir, r), worker_public_key_file(dir, r)});
    for (const auto& file : targets)
      if (std::filesystem::exists(std::filesystem::symlink_status(file, ec)))
        detail::key_file_fail(file, "already exists; nothing was written (fda-keys --force replaces the keys)");
  }
  if (!exists) {
    if (!std::filesystem::create_directories(dir, ec) && ec)
      detail::fail("fda: key directory ", dir.string(), " cannot be created: ", ec.message());
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace, ec);
    if (ec) detail::fail("fda: key directory ", dir.string(), ": cannot set its mode to 0700: ", ec.message());
  }
  const auto write_pair = [&](const std::string& who, const std::filesystem::path& secret_file,
                              const std::filesystem::path& public_file) {
    const curve_key_pair keys = make_curve_key_pair();
    write_key_file(secret_file, keys.secret_key, "fda CURVE secret key of " + who + ": keep it private (mode 0600)",
                   true, overwrite);
    write_key_file(public_file, keys.public_key, "fda CURVE public key of " + who, false, overwrite);
  };
  write_pair("the hub", hub_secret_key_file(dir), hub_public_key_file(dir));
  for (std::size_t r = 0; r < workers; ++r)
    write_pair("worker " + std::to_string(r), worker_secret_key_file(dir, r), worker_public_key_file(dir, r));
}

/// The hub's allow-list: the public keys of workers [0, workers) from `dir/worker-<r>.pub`, at
/// index r. Throws fda::invalid_argument naming a missing or bad file, or two files that hold
/// the same key (each worker needs its own pair).
inline std::vector<std::string> read_worker_public_keys(const std::filesystem::path& dir, std::size_t workers) {
  detail::require_key_workers("fda::read_worker_public_keys", workers);
  std::vector<std::string> keys;
  keys.reserve(workers);
  std::map<std::string, std::size_t> rank_of;
  for (std::size_t r = 0; r < workers; ++r) {
    keys.push_back(read_public_key(worker_public_key_file(dir, r)));
    if (const auto [at, fresh] = rank_of.emplace(keys.back(), r); !fresh)
      detail::key_file_fail(worker_public_key_file(dir, r),
                            detail::concat("holds the same key as ", worker_public_key_file(dir, at->second).string(),
                                   "; each worker needs its own key pair (fda-keys writes them)"));
  }
  return keys;
}

}  // namespace fda

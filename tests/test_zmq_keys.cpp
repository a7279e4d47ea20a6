// SPDX-License-Identifier: Apache-2.0
// CURVE key files (<fda/zmq/keys.hpp>): a run's keys are written with private modes whatever
// the umask and read back as written; a secret file others may read, and every malformed file
// (missing, empty, two keys, a short key, non-Z85 text, a huge file, a directory), is refused
// with a message naming the file and the fault; nothing is overwritten without the flag.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <fda/zmq/keys.hpp>

#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

// A key pair made by zmq_curve_keypair (a test vector: public_key_of must map one to the other).
const std::string public_z85 = "JBF0O)<lJFD6yXHWERc}jLbv-JMODYpoHOlx4hls";
const std::string secret_z85 = "98U&)<&T<aB42MT@emXmbb6BN8dke@?mSj!-ZW7e";

using temp_dir = fda_test::temp_dir;

void spit(const fs::path& p, const std::string& bytes, fs::perms mode = fs::perms(0600)) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  fs::permissions(p, mode, fs::perm_options::replace);
}

unsigned mode_of(const fs::path& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return unsigned(st.st_mode & 07777);
}

/// The message read_*_key throws for `file`, or "" when it is accepted.
std::string refusal(const fs::path& file, bool secret) {
  try {
    (void)(secret ? fda::read_secret_key(file) : fda::read_public_key(file));
  } catch (const fda::invalid_argument& e) {
    return e.what();
  }
  return {};
}

/// Every file of `dir` by name.
std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

/// Restores the umask the test changed.
struct umask_guard {
  mode_t old;
  explicit umask_guard(mode_t m) : old(::umask(m)) {}
  ~umask_guard() { ::umask(old); }
};

}  // namespace

TEST_CASE("a run's keys are written and read back: every pair matches, the hub's allow-list is in rank order") {
  if (!fda::curve_available()) {
    WARN("libzmq has no CURVE: make_curve_key_pair must refuse");
    CHECK_THROWS_WITH(fda::make_curve_key_pair(), Catch::Contains("without CURVE"));
    return;
  }
  temp_dir tmp;
  const fs::path dir = tmp.path / "run";
  fda::write_run_keys(dir, 3);
  CHECK(files_in(dir) == std::set<std::string>{"hub.key", "hub.pub", "worker-0.key", "worker-0.pub", "worker-1.key",
                                               "worker-1.pub", "worker-2.key", "worker-2.pub"});
  CHECK(fda::public_key_of(fda::read_secret_key(fda::hub_secret_key_file(dir))) ==
        fda::read_public_key(fda::hub_public_key_file(dir)));
  const std::vector<std::string> allowed = fda::read_worker_public_keys(dir, 3);
  REQUIRE(allowed.size() == 3);
  std::set<std::string> distinct{fda::read_public_key(fda::hub_public_key_file(dir))};
  for (std::size_t r = 0; r < 3; ++r) {
    INFO("worker " << r);
    const std::string secret = fda::read_secret_key(fda::worker_secret_key_file(dir, r));
    CHECK(secret.size() == 40);
    CHECK(fda::public_key_of(secret) == fda::read_public_key(fda::worker_public_key_file(dir, r)));
    CHECK(allowed[r] == fda::read_public_key(fda::worker_public_key_file(dir, r)));
    distinct.insert(allowed[r]);
  }
  CHECK(distinct.size() == 4);  // four pairs, not one written four times
  std::ifstream in(fda::worker_secret_key_file(dir, 2));
  std::string first_line;
  std::getline(in, first_line);
  CHECK(first_line == "# fda CURVE secret key of worker 2: keep it private (mode 0600)");
}

TEST_CASE("public_key_of maps a secret key to its public key and refuses what is no key, without echoing it") {
  if (fda::curve_available()) CHECK(fda::public_key_of(secret_z85) == public_z85);
  const std::string bad = secret_z85.substr(0, 39) + "~";
  CHECK_THROWS_WITH(fda::public_key_of(bad),
                    Catch::Contains("has a non-Z85 character at position 40") && !Catch::Contains(bad.substr(0, 10)));
  CHECK_THROWS_WITH(fda::public_key_of("abc"), Catch::Contains("has 3 characters; a Z85 CURVE key has 40"));
}

TEST_CASE("secret files are 0600 and public files 0644 whatever the umask; a new key directory is 0700") {
  if (!fda::curve_available()) return;
  temp_dir tmp;
  const fs::path dir = tmp.path / "run";
  {
    umask_guard open_umask(0);  // would leave a plain create at 0666
    fda::write_run_keys(dir, 2);
  }
  CHECK(mode_of(dir) == 0700);
  for (const auto& file : {fda::hub_secret_key_file(dir), fda::worker_secret_key_file(dir, 0),
                           fda::worker_secret_key_file(dir, 1)}) {
    INFO(file);
    CHECK(mode_of(file) == 0600);
  }
  for (const auto& file : {fda::hub_public_key_file(dir), fda::worker_public_key_file(dir, 0),
                           fda::worker_public_key_file(dir, 1)}) {
    INFO(file);
    CHECK(mode_of(file) == 0644);
  }
  // A restrictive umask does not take the read bits of a public file away either.
  umask_guard tight(077);
  fda::write_key_file(tmp.path / "x.pub", public_z85, "a public key", false);
  CHECK(mode_of(tmp.path / "x.pub") == 0644);
}

TEST_CASE("a secret key file that group or others may access is refused, with the chmod that fixes it") {
  temp_dir tmp;
  const fs::path file = tmp.path / "worker-3.key";
  spit(file, "# a secret\n" + secret_z85 + "\n", fs::perms(0600));
  CHECK(fda::read_secret_key(file) == secret_z85);
  spit(file, "# a secret\n" + secret_z85 + "\n", fs::perms(0400));
  CHECK(fda::read_secret_key(file) == secret_z85);
  for (const unsigned mode : {0640u, 0604u, 0610u, 0644u}) {
    INFO("mode " << std::oct << mode);
    fs::permissions(file, fs::perms(mode), fs::perm_options::replace);
    const std::string why = refusal(file, true);
    CHECK_THAT(why, Catch::Contains(file.string()) && Catch::Contains("chmod 600 " + file.string()) &&
                        Catch::Contains("group or others"));
  }
  CHECK(refusal(file, false).empty());  // a public key file may be world-readable
}

TEST_CASE("malformed key files are refused with a message naming the file and the fault") {
  temp_dir tmp;
  const auto check_refused = [&](const std::string& name, const std::string& text, const std::string& expected) {
    const fs::path file = tmp.path / name;
    spit(file, text);
    for (const bool secret : {false, true}) {
      INFO(name << (secret ? " as a secret key" : " as a public key"));
      CHECK_THAT(refusal(file, secret),
                 Catch::Contains("key file " + file.string() + ": ") && Catch::Contains(expected));
    }
  };
  check_refused("empty.pub", "", "is empty");
  check_refused("comments.pub", "# only\n\n# comments\n", "holds no key line");
  check_refused("two.pub", "# two keys\n" + public_z85 + "\n" + public_z85 + "\n", "lines 2 and 3 both hold text");
  check_refused("short.pub", "# a comment\n" + public_z85.substr(0, 39) + "\n",
                "line 2 has 39 characters; a Z85 CURVE key has 40");
  check_refused("long.pub", public_z85 + "x\n", "line 1 has 41 characters");
  check_refused("chars.pub", public_z85.substr(0, 7) + "," + public_z85.substr(8) + "\n",
                "line 1 has a non-Z85 character at position 8");
  check_refused("quote.pub", "\"" + public_z85.substr(1) + "\n", "line 1 has a non-Z85 character at position 1");
  check_refused("overflow.pub", std::string(40, '$') + "\n", "line 1 is not valid Z85");
  check_refused("huge.pub", std::string(1 << 20, 'a'), "has 1048576 bytes; a key file has at most 4096");
  CHECK_THAT(refusal(tmp.path / "chars.pub", false), Catch::Contains("(',')"));  // a public key's character is shown
  CHECK_THAT(refusal(tmp.path / "chars.pub", true), !Catch::Contains("(',')"));  // a secret's is not

  CHECK_THAT(refusal(tmp.path / "missing.pub", false),
             Catch::Contains(tmp.path.string() + "/missing.pub: does not exist"));
  CHECK_THAT(refusal(tmp.path / "missing.key", true), Catch::Contains("missing.key: does not exist"));
  fs::create_directory(tmp.path / "dir.key");
  fs::permissions(tmp.path / "dir.key", fs::perms(0700), fs::perm_options::replace);  // mode passes: the type fails
  CHECK_THAT(refusal(tmp.path / "dir.key", true), Catch::Contains("dir.key: is a directory"));
  CHECK_THAT(refusal(tmp.path / "dir.key", false), Catch::Contains("dir.key: is a directory"));
}

TEST_CASE("comments, blank lines, trailing whitespace and CRLF line ends are accepted") {
  temp_dir tmp;
  const fs::path file = tmp.path / "hub.pub";
  spit(file, "# fda CURVE public key of the hub\r\n\r\n  \n" + public_z85 + " \t\r\n# after\n", fs::perms(0644));
  CHECK(fda::read_public_key(file) == public_z85);
  spit(file, public_z85, fs::perms(0644));  // no final newline
  CHECK(fda::read_public_key(file) == public_z85);
}

TEST_CASE("existing key files are not overwritten without the flag, and nothing is written then") {
  if (!fda::curve_available()) return;
  temp_dir tmp;
  const fs::path dir = tmp.path;
  spit(fda::worker_public_key_file(dir, 1), public_z85 + "\n", fs::perms(0644));
  CHECK_THROWS_WITH(fda::write_run_keys(dir, 3),
                    Catch::Contains(fda::worker_public_key_file(dir, 1).string() + ": already exists"));
  CHECK(files_in(dir) == std::set<std::string>{"worker-1.pub"});  // checked before writing anything
  CHECK(fda::read_public_key(fda::worker_public_key_file(dir, 1)) == public_z85);

  fda::write_run_keys(dir, 3, true);
  CHECK(files_in(dir).size() == 8);
  CHECK(fda::read_public_key(fda::worker_public_key_file(dir, 1)) != public_z85);
  CHECK(fda::public_key_of(fda::read_secret_key(fda::worker_secret_key_file(dir, 1))) ==
        fda::read_public_key(fda::worker_public_key_file(dir, 1)));

  const fs::path one = dir / "one.key";
  fda::write_key_file(one, secret_z85, "one", true);
  CHECK_THROWS_WITH(fda::write_key_file(one, secret_z85, "one", true), Catch::Contains("one.key: already exists"));
  spit(one, "changed\n", fs::perms(0644));
  fda::write_key_file(one, secret_z85, "one", true, true);
  CHECK(mode_of(one) == 0600);
  CHECK(fda::read_secret_key(one) == secret_z85);
  CHECK_THROWS_WITH(fda::write_key_file(dir / "bad.pub", "short", "", false), Catch::Contains("has 5 characters"));
  CHECK_FALSE(fs::exists(dir / "bad.pub"));
}

TEST_CASE("a run needs 1 to 100000 workers; the allow-list names a missing or duplicated worker key") {
  temp_dir tmp;
  const fs::path dir = tmp.path / "run";
  CHECK_THROWS_WITH(fda::write_run_keys(dir, 0), Catch::Contains("workers = 0 is invalid"));
  CHECK_THROWS_WITH(fda::write_run_keys(dir, 100001), Catch::Contains("workers = 100001 is invalid"));
  CHECK_FALSE(fs::exists(dir));
  CHECK_THROWS_WITH(fda::read_worker_public_keys(dir, 0), Catch::Contains("workers = 0 is invalid"));
  if (!fda::curve_available()) return;
  fda::write_run_keys(dir, 2);
  CHECK_THROWS_WITH(fda::read_worker_public_keys(dir, 3),
                    Catch::Contains(fda::worker_public_key_file(dir, 2).string() + ": does not exist"));
  fs::copy_file(fda::worker_public_key_file(dir, 0), fda::worker_public_key_file(dir, 1),
                fs::copy_options::overwrite_existing);
  CHECK_THROWS_WITH(fda::read_worker_public_keys(dir, 2),
                    Catch::Contains("worker-1.pub: holds the same key as " +
                                    fda::worker_public_key_file(dir, 0).string()));
}

// TLS between clients, tools and nodes (--tls-cert, --tls-key, --tls-ca;
// ClientOptions::tls_ca_file): a cluster that forms and serves over TLS, and
// every way a connection must fail (plaintext on either side, an untrusted
// or misnamed certificate, a peer that never finishes its handshake, bad
// flags) failing fast and clearly. The certificates are made by the test
// with the openssl command, in a directory it removes.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "ctl_command.h"
#include "local_cluster.h"
#include "raw_rpc.h"
#include "wait_until.h"

namespace discache::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string find_openssl() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir) / "openssl";
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

// A CA, certificates it signed, and an unrelated CA, in a temporary
// directory that is removed with the object. Test thread only.
class TestCertificates {
 public:
  TestCertificates() {
    openssl_ = find_openssl();
    REQUIRE_MESSAGE(!openssl_.empty(), "the openssl command is needed (tools/install-deps.sh)");
    char pattern[] = "/tmp/discache-tls-test-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    dir_ = pattern;
    make_ca("ca", "discache test CA");
    make_ca("other-ca", "someone else's CA");
    // How nodes on 127.0.0.1 must be certified for kj 0.9.2, which checks
    // the name a client dials against DNS entries only.
    make_node("node", "DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1");
    // The usual way for other TLS stacks, which kj 0.9.2 does not honour for
    // an IP address.
    make_node("ip-only", "DNS:localhost,IP:127.0.0.1");
  }
  ~TestCertificates() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  TestCertificates(const TestCertificates&) = delete;
  TestCertificates& operator=(const TestCertificates&) = delete;

  std::string path(const std::string& file) const { return dir_ / file; }
  std::string ca() const { return path("ca.pem"); }
  std::string other_ca() const { return path("other-ca.pem"); }
  // --tls-cert/--tls-key/--tls-ca for a node with certificate `name`.
  std::vector<std::string> node_flags(const std::string& name = "node") const {
    return {"--tls-cert", path(name + ".pem"), "--tls-key", path(name + ".key"), "--tls-ca", ca()};
  }

 private:
  void run(std::vector<std::string> args) {
    args.insert(args.begin(), openssl_);
    auto result = run_command(args);
    REQUIRE_MESSAGE(result.exit_code() == 0, result);
  }
  void make_ca(const std::string& name, const std::string& subject) {
    run({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", path(name + ".key"), "-out", path(name + ".pem"), "-days", "2", "-subj",
         "/CN=" + subject, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
         "keyUsage=critical,keyCertSign,cRLSign"});
  }
  void make_node(const std::string& name, const std::string& alt_names) {
    {
      std::ofstream ext(path(name + ".ext"));
      ext << "subjectAltName=" << alt_names << "\nbasicConstraints=CA:FALSE\n"
          << "extendedKeyUsage=serverAuth,clientAuth\n";
    }
    run({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=discache-node"});
    run({"x509", "-req", "-in", path(name + ".csr"), "-CA", ca(), "-CAkey", path("ca.key"),
         "-set_serial", std::to_string(++serial_), "-days", "2", "-extfile", path(name + ".ext"),
         "-out", path(name + ".pem")});
  }

  std::string openssl_;
  fs::path dir_;
  int serial_ = 1;
};

// A cluster of `nodes` TLS nodes (plus `extra` flags) that the harness reads over TLS.
std::expected<LocalCluster, std::string> start_tls_cluster(const TestCertificates& certs,
                                                           std::size_t nodes,
                                                           std::vector<std::string> extra = {}) {
  ClusterOptions options;
  options.nodes = nodes;
  options.node_args = certs.node_flags();
  options.node_args.insert(options.node_args.end(), extra.begin(), extra.end());
  options.harness_client.tls_ca_file = certs.ca();
  return LocalCluster::start(options);
}

ClientOptions tls_client(const TestCertificates& certs) {
  ClientOptions options;
  options.tls_ca_file = certs.ca();
  return options;
}

// get/has calls served outside batches: the caller's-thread read path's
// (see tests/client_api/caller_thread_test.cpp), plus one stats call per node.
std::uint64_t plain_calls(Client& client) {
  std::uint64_t total = 0;
  for (const auto& node : client.stats()) {
    REQUIRE_MESSAGE(!node.error, node.name, ": ", node.error->describe());
    total += node.calls - node.batch_calls;
  }
  return total;
}

TEST_CASE("TLS round trip: nodes form a cluster over TLS; client and discache-ctl read and write") {
  TestCertificates certs;
  // Converged means every node lists every node alive, which the nodes only
  // learn by gossiping with each other over TLS (the harness reads over TLS too).
  auto cluster = start_tls_cluster(certs, 3, {"--replicas", "2"});
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  for (std::size_t i = 0; i < cluster->size(); ++i) {
    CHECK(log_has(cluster->node(i), "TLS: serving only TLS"));
  }

  auto client = cluster->connect_client(tls_client(certs));
  REQUIRE_MESSAGE(client, client.error().describe());
  constexpr int kKeys = 60;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "tls-" + std::to_string(i);
    auto put = client->put(key, "value of " + key);
    REQUIRE_MESSAGE(put, key, ": ", put.error().describe());
  }
  // Blocking reads go through this thread's own TLS connections (the
  // caller's-thread path): count them at the nodes.
  const std::uint64_t before = plain_calls(*client);
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "tls-" + std::to_string(i);
    auto got = client->get(key);
    REQUIRE_MESSAGE(got, key, ": ", got.error().describe());
    CHECK(*got == "value of " + key);
    auto has = client->has_key(key);
    REQUIRE(has);
    CHECK(*has);
  }
  CHECK(plain_calls(*client) - before - cluster->size() >= 2 * kKeys);
  // The keys are spread over every node: each was written to over TLS.
  for (const auto& node : client->stats()) {
    REQUIRE_FALSE(node.error);
    CHECK_MESSAGE(node.items > 0, node.name);
  }
  for (int i = 0; i < kKeys; i += 2) {
    const std::string key = "tls-" + std::to_string(i);
    REQUIRE(client->del(key));
    auto has = client->has_key(key);
    REQUIRE(has);
    CHECK_FALSE(*has);
    auto got = client->get(key);
    REQUIRE_FALSE(got);
    CHECK(got.error().is(Errc::not_found));
  }
  // multi_get goes through the client's I/O thread, in one batch per node.
  const std::vector<std::string> keys{"tls-1", "tls-3", "tls-2"};
  auto batch = client->multi_get(keys);
  REQUIRE(batch.size() == 3);
  CHECK(batch[0] == "value of tls-1");
  CHECK(batch[1] == "value of tls-3");
  CHECK_FALSE(batch[2]);

  // discache-ctl with --tls-ca, through the ring and straight to one node.
  auto put = run_ctl(
      {"--seed", cluster->seed_address(), "--tls-ca", certs.ca(), "put", "ctl-key", "ctl-value"});
  CHECK_MESSAGE(put.exit_code() == 0, put);
  auto get =
      run_ctl({"--seed", cluster->node(2).address(), "--tls-ca", certs.ca(), "get", "ctl-key"});
  CHECK_MESSAGE(get.exit_code() == 0, get);
  CHECK(get.out == "ctl-value\n");
  CHECK(client->get("ctl-key") == "ctl-value");
  // The name to verify can be given instead of the address's host.
  auto named = run_ctl({"--node", cluster->node(1).address(), "--tls-ca", certs.ca(),
                        "--tls-server-name", "localhost", "members"});
  CHECK_MESSAGE(named.exit_code() == 0, named);
}

TEST_CASE("plaintext on either side, an untrusted CA or a wrong name: Errc::tls, fast, no data") {
  TestCertificates certs;
  auto cluster = start_tls_cluster(certs, 1);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  const std::string address = cluster->seed_address();

  auto refused = [&](ClientOptions options, const std::string& expected) {
    const auto started = Clock::now();
    auto client = cluster->connect_client(std::move(options));
    const auto took = Clock::now() - started;
    REQUIRE_FALSE(client);
    CHECK_MESSAGE(client.error().is(Errc::tls), client.error().describe());
    CHECK_MESSAGE(client.error().message.find(expected) != std::string::npos,
                  client.error().describe());
    CHECK(took < 5s);  // the default connect timeout is 1 s: no hang
  };
  SUBCASE("a client without TLS is told the node accepts only TLS") {
    refused(ClientOptions{}, "accepts only TLS");
    CHECK(wait_until([&]() { return log_has(cluster->node(0), "refused plaintext"); }, 5s));
  }
  SUBCASE("a client trusting another CA refuses the node's certificate") {
    ClientOptions options;
    options.tls_ca_file = certs.other_ca();
    refused(options, "certificate not accepted");
  }
  SUBCASE("a client expecting another name refuses the node's certificate") {
    ClientOptions options = tls_client(certs);
    options.tls_server_name = "cache.example.com";
    refused(options, "hostname mismatch");
  }
  SUBCASE("discache-ctl without --tls-ca or with another CA: exit 2, nothing written") {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--seed", address, "put", "k", "v"},
             {"--seed", address, "--tls-ca", certs.other_ca(), "put", "k", "v"},
             {"--node", address, "--tls-ca", certs.other_ca(), "put", "k", "v"},
             {"--node", address, "--tls-ca", certs.ca(), "--tls-server-name", "other.example",
              "put", "k", "v"}}) {
      auto run = run_ctl(args);
      CHECK_MESSAGE(run.exit_code() == 2, run);
      CHECK_MESSAGE(run.err.find("tls: ") != std::string::npos, run);
    }
  }
  // Whatever was refused, nothing reached the store.
  auto good = cluster->connect_client(tls_client(certs));
  REQUIRE_MESSAGE(good, good.error().describe());
  for (const auto& node : good->stats()) {
    REQUIRE_FALSE(node.error);
    CHECK(node.puts == 0);
    CHECK(node.items == 0);
  }
  CHECK(good->get("k").error().is(Errc::not_found));
}

TEST_CASE("a TLS client meets a plain node: Errc::tls at connect, not a hang") {
  TestCertificates certs;
  ClusterOptions options;
  options.nodes = 1;
  auto plain = LocalCluster::start(options);
  REQUIRE_MESSAGE(plain, plain.error());
  const auto started = Clock::now();
  auto client = plain->connect_client(tls_client(certs));
  REQUIRE_FALSE(client);
  CHECK_MESSAGE(client.error().is(Errc::tls), client.error().describe());
  CHECK(Clock::now() - started < 5s);
  auto ctl = run_ctl({"--seed", plain->seed_address(), "--tls-ca", certs.ca(), "get", "k"});
  CHECK_MESSAGE(ctl.exit_code() == 2, ctl);
  CHECK_MESSAGE(ctl.err.find("tls: handshake with " + plain->seed_address()) != std::string::npos,
                ctl);
}

TEST_CASE("kj 0.9.2 checks DNS names only: an IP-only certificate needs a server name") {
  TestCertificates certs;
  ClusterOptions options;
  options.nodes = 1;
  options.node_args = certs.node_flags("ip-only");
  options.await_convergence = false;  // the harness dials 127.0.0.1, which this cert fails
  auto cluster = LocalCluster::start(options);
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  auto by_ip = cluster->connect_client(tls_client(certs));
  REQUIRE_FALSE(by_ip);
  CHECK(by_ip.error().is(Errc::tls));
  CHECK(by_ip.error().message.find("DNS:ADDRESS") != std::string::npos);
  ClientOptions named = tls_client(certs);
  named.tls_server_name = "localhost";
  auto client = cluster->connect_client(named);
  REQUIRE_MESSAGE(client, client.error().describe());
  REQUIRE(client->put("k", "v"));
  CHECK(client->get("k") == "v");
}

TEST_CASE("peers that never finish a handshake: bounded, counted, and the node keeps serving") {
  TestCertificates certs;
  // --idle-timeout also bounds the handshake (when under 10 s).
  auto cluster = start_tls_cluster(certs, 1, {"--idle-timeout", "2s", "--max-connections", "10"});
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());
  const std::string address = cluster->seed_address();
  auto client = cluster->connect_client(tls_client(certs));
  REQUIRE_MESSAGE(client, client.error().describe());
  REQUIRE(client->put("before", "1"));
  CHECK(client->get("before") == "1");  // this thread's own connection, made now

  // A TCP peer that says nothing, one that starts a TLS record and stops,
  // one that sends garbage under a TLS record type, one plain garbage.
  std::vector<int> stalled;
  for (int i = 0; i < 2; ++i) {
    stalled.push_back(connect_raw(address));
  }
  const int partial = connect_raw(address);
  REQUIRE(write_all(partial, std::string("\x16\x03\x01\x02\x00", 5)));
  stalled.push_back(partial);
  const int fake_tls = connect_raw(address);
  std::string junk(300, '\x5a');
  junk[0] = '\x16';
  REQUIRE(write_all(fake_tls, junk));
  const int garbage = connect_raw(address);
  REQUIRE(write_all(garbage, std::string(300, '\x07')));
  for (int fd : stalled) {
    REQUIRE(fd >= 0);
  }
  // Bad handshakes end at once, only their own connection.
  CHECK(closed_by_peer(fake_tls, 5000));
  CHECK(closed_by_peer(garbage, 5000));
  CHECK(wait_until([&]() { return log_has(cluster->node(0), "TLS handshake with"); }, 5s));
  // Meanwhile the good client is served (its connection already exists).
  REQUIRE(client->put("during", "2"));
  CHECK(client->get("before") == "1");

  // Handshakes in progress count against --max-connections (10): the
  // client's links (at least one), 3 stalled and 8 more go past it. Were
  // only logged-in connections counted, nothing would be refused.
  std::vector<int> more;
  for (int i = 0; i < 8; ++i) {
    more.push_back(connect_raw(address));
  }
  CHECK(
      wait_until([&]() { return log_has(cluster->node(0), "connection limit (10) reached"); }, 5s));
  // Every stalled handshake ends within the bound (2 s here), not later.
  const auto opened = Clock::now();
  for (int fd : stalled) {
    CHECK(closed_by_peer(fd, 10000));
  }
  for (int fd : more) {
    CHECK(closed_by_peer(fd, 10000));
  }
  CHECK(Clock::now() - opened < 8s);
  for (int fd : stalled) {
    close(fd);
  }
  for (int fd : more) {
    close(fd);
  }
  close(fake_tls);
  close(garbage);
  // And the node serves new TLS clients afterwards.
  auto later = cluster->connect_client(tls_client(certs));
  REQUIRE_MESSAGE(later, later.error().describe());
  CHECK(later->get("during") == "2");
  CHECK(later->get("before") == "1");
}

TEST_CASE("bad TLS flags: exit 2, the flag and path named, nothing of the key printed") {
  TestCertificates certs;
  const std::string node = executable_from_env("DISCACHE_NODE");
  const std::string key_text = read_text(certs.path("node.key"));
  auto check_refused = [&](std::vector<std::string> flags, std::vector<std::string> expected) {
    flags.insert(flags.begin(), {node, "--listen", "127.0.0.1:0"});
    auto run = run_command(flags, std::nullopt, 10s);
    CHECK_MESSAGE(run.exit_code() == 2, run);
    for (const auto& text : expected) {
      CHECK_MESSAGE(run.err.find(text) != std::string::npos, "want '", text, "' in ", run);
    }
    CHECK(run.err.find("PRIVATE KEY") == std::string::npos);
    std::istringstream lines(key_text);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && !line.starts_with("-----")) {
        CHECK_MESSAGE(run.err.find(line) == std::string::npos, "key material in ", run);
      }
    }
    CHECK(run.err.find("listening on") == std::string::npos);
  };
  const std::string cert = certs.path("node.pem");
  const std::string key = certs.path("node.key");
  check_refused({"--tls-cert", cert}, {"--tls-cert needs --tls-key"});
  check_refused({"--tls-key", key, "--tls-ca", certs.ca()}, {"--tls-key needs --tls-cert"});
  check_refused({"--tls-cert", cert, "--tls-key", key}, {"need --tls-ca"});
  check_refused({"--tls-ca", certs.ca()}, {"--tls-ca needs --tls-cert"});
  const std::string missing = certs.path("no-such.key");
  check_refused({"--tls-cert", cert, "--tls-key", missing, "--tls-ca", certs.ca()},
                {"--tls-key " + missing, "cannot read"});
  // A directory opens but cannot be read.
  check_refused({"--tls-cert", cert, "--tls-key", key, "--tls-ca", certs.path("")},
                {"--tls-ca", "cannot read"});
  // Files swapped: the key where the certificate goes and the other way round.
  check_refused({"--tls-cert", key, "--tls-key", cert, "--tls-ca", certs.ca()},
                {"--tls-cert " + key, "no PEM certificate"});
  check_refused({"--tls-cert", cert, "--tls-key", cert, "--tls-ca", certs.ca()},
                {"--tls-key " + cert, "no PEM private key"});
  // Another certificate's key.
  check_refused(
      {"--tls-cert", cert, "--tls-key", certs.path("ip-only.key"), "--tls-ca", certs.ca()},
      {"does not belong to the certificate"});
  // The client reports a bad CA file at connect.
  ClientOptions options;
  options.seeds = {"127.0.0.1:1"};
  options.tls_ca_file = missing;
  auto client = Client::connect(options);
  REQUIRE_FALSE(client);
  CHECK(client.error().is(Errc::invalid_argument));
  CHECK(client.error().message.find("tls_ca_file " + missing) != std::string::npos);
}

}  // namespace
}  // namespace discache::testing

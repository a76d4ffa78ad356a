// discache-ctl's commands, exit codes (0 ok, 1 not found, 2 error) and --json shapes.
#include <doctest/doctest.h>

#include <initializer_list>
#include <set>

#include "ctl_command.h"
#include "expected_text.h"
#include "json_value.h"
#include "local_cluster.h"
#include "wait_until.h"

using namespace discache::testing;
using namespace std::chrono_literals;

namespace {

// Parses `run.out` as JSON and checks it is an object holding `keys`.
JsonValue json_object_with(const CommandResult& run, std::initializer_list<const char*> keys) {
  INFO("output: ", run);
  auto doc = parse_json(run.out);
  REQUIRE_MESSAGE(doc, why(doc));
  REQUIRE(doc->is_object());
  for (const char* key : keys) {
    CHECK_MESSAGE(doc->has(key), "missing key \"", key, "\"");
  }
  return *doc;
}

// One copy per key: a get right after a del or put must see it, which a
// replica finishing in the background would not promise.
ClusterOptions single_copy() {
  ClusterOptions options;
  options.replicas = 1;
  return options;
}

// stderr is one line: the error, not a stack of them.
bool one_line(const std::string& text) {
  return !text.empty() && text.back() == '\n' && text.find('\n') == text.size() - 1;
}

}  // namespace

TEST_CASE("discache-ctl get, has, put and del behave and exit as documented") {
  auto cluster = LocalCluster::start(single_copy());
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  const std::vector<std::string> seed{"--seed", cluster->seed_address()};
  auto ctl = [&](std::vector<std::string> args, std::optional<std::string> input = std::nullopt) {
    args.insert(args.begin(), seed.begin(), seed.end());
    return run_ctl(std::move(args), std::move(input));
  };

  SUBCASE("a missing key: get and has exit 1 with 'not found', del still succeeds") {
    auto get = ctl({"get", "never-written"});
    INFO(get);
    CHECK(get.exit_code() == 1);
    CHECK(get.out.empty());
    CHECK(get.err == "not found\n");

    auto has = ctl({"has", "never-written"});
    INFO(has);
    CHECK(has.exit_code() == 1);
    CHECK(has.err == "not found\n");

    auto del = ctl({"del", "never-written"});
    INFO(del);
    CHECK(del.exit_code() == 0);
    CHECK(del.out == "ok\n");
  }

  SUBCASE("put, get, has, del, then the key is gone") {
    auto put = ctl({"put", "fruit", "apple pie"});
    INFO(put);
    CHECK(put.exit_code() == 0);
    CHECK(put.out == "ok\n");

    auto get = ctl({"get", "fruit"});
    INFO(get);
    CHECK(get.exit_code() == 0);
    CHECK(get.out == "apple pie\n");

    auto has = ctl({"has", "fruit"});
    INFO(has);
    CHECK(has.exit_code() == 0);
    CHECK(has.out == "true\n");

    auto overwrite = ctl({"put", "fruit", "banana"});
    CHECK(overwrite.exit_code() == 0);
    CHECK(ctl({"get", "fruit"}).out == "banana\n");

    auto del = ctl({"del", "fruit"});
    INFO(del);
    CHECK(del.exit_code() == 0);
    CHECK(del.out == "ok\n");
    CHECK(ctl({"get", "fruit"}).exit_code() == 1);
    CHECK(ctl({"has", "fruit"}).exit_code() == 1);
  }

  SUBCASE("put KEY - reads the value from stdin, byte for byte") {
    const std::string value = "line one\n\ttabbed \"quoted\" line\nno newline at the end";
    auto put = ctl({"put", "from-stdin", "-"}, value);
    INFO(put);
    CHECK(put.exit_code() == 0);

    auto get = ctl({"get", "from-stdin"});
    INFO(get);
    CHECK(get.exit_code() == 0);
    CHECK(get.out == value + "\n");  // get adds one newline

    auto json = ctl({"get", "from-stdin", "--json"});
    auto doc = json_object_with(json, {"key", "status", "value", "version"});
    CHECK(doc["value"].as_string() == value);

    auto empty = ctl({"put", "empty-from-stdin", "-"}, std::string());
    CHECK(empty.exit_code() == 0);
    auto get_empty = ctl({"get", "empty-from-stdin"});
    CHECK(get_empty.exit_code() == 0);
    CHECK(get_empty.out == "\n");
  }

  SUBCASE("--ttl: the value is there at first and expires") {
    auto put = ctl({"put", "--ttl", "2s", "short-lived", "soon gone"});
    INFO(put);
    REQUIRE(put.exit_code() == 0);
    auto keeper = ctl({"put", "long-lived", "stays"});
    REQUIRE(keeper.exit_code() == 0);

    auto first = ctl({"get", "short-lived"});
    INFO(first);
    CHECK(first.exit_code() == 0);
    CHECK(first.out == "soon gone\n");

    CommandResult last;
    const bool expired = wait_until(
        [&]() {
          last = ctl({"get", "short-lived"});
          return last.exit_code() != 0;
        },
        15s);
    INFO("last get: ", last);
    CHECK(expired);
    CHECK(last.exit_code() == 1);
    CHECK(last.err == "not found\n");
    CHECK(ctl({"has", "short-lived"}).exit_code() == 1);
    CHECK(ctl({"get", "long-lived"}).out == "stays\n");
  }

  SUBCASE("usage errors exit 2 with a message") {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"get"},                               // missing KEY
             {"put", "only-key"},                   // missing VALUE
             {"no-such-command"},                   //
             {"--timeout", "soon", "get", "k"},     // bad duration
             {"put", "--ttl", "forever", "k", "v"},  // bad duration
         }) {
      auto run = ctl(args);
      INFO(run);
      CHECK(run.exit_code() == 2);
      CHECK_FALSE(run.err.empty());
    }
  }

  SUBCASE("a value over the size limit exits 2 with too_large on one line") {
    std::string huge(1024 * 1024 + 1, 'z');
    auto put = ctl({"put", "huge", "-"}, huge);
    INFO(put);
    CHECK(put.exit_code() == 2);
    CHECK(put.err.find("too_large") != std::string::npos);
    CHECK(put.err.find("1048576") != std::string::npos);
    CHECK(one_line(put.err));
    CHECK(ctl({"get", "huge"}).exit_code() == 1);
  }
}

TEST_CASE("discache-ctl --json prints parsable JSON with the documented keys") {
  auto cluster = LocalCluster::start(single_copy());
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  const std::vector<std::string> seed{"--seed", cluster->seed_address()};
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), seed.begin(), seed.end());
    args.push_back("--json");
    return run_ctl(std::move(args));
  };

  SUBCASE("members") {
    auto run = ctl({"members"});
    REQUIRE(run.exit_code() == 0);
    auto doc = json_object_with(run, {"epoch", "replicas", "members"});
    CHECK(doc["epoch"].is_number());
    CHECK(doc["replicas"].as_number() >= 1);
    REQUIRE(doc["members"].items().size() == 3);
    for (const auto& row : doc["members"].items()) {
      for (const char* key : {"name", "address", "state", "incarnation", "items"}) {
        CHECK_MESSAGE(row.has(key), "member row lacks ", key);
      }
      CHECK(row["state"].as_string() == "alive");
      CHECK(row["items"].as_number() >= 0);
      CHECK(row["incarnation"].as_number() > 0);
    }
  }

  SUBCASE("ring") {
    auto run = ctl({"ring"});
    REQUIRE(run.exit_code() == 0);
    auto doc = json_object_with(run, {"epoch", "nodes", "imbalance"});
    REQUIRE(doc["nodes"].items().size() == 3);
    double total_share = 0;
    for (const auto& row : doc["nodes"].items()) {
      for (const char* key : {"name", "address", "vnodes", "share"}) {
        CHECK_MESSAGE(row.has(key), "ring row lacks ", key);
      }
      CHECK(row["vnodes"].as_number() > 0);
      total_share += row["share"].as_number();
    }
    CHECK(total_share == doctest::Approx(100.0).epsilon(0.001));  // shares are percent
    CHECK(doc["imbalance"].as_number() >= 1.0);
  }

  SUBCASE("owners") {
    auto run = ctl({"owners", "some-key"});
    REQUIRE(run.exit_code() == 0);
    auto doc = json_object_with(run, {"key", "owners"});
    CHECK(doc["key"].as_string() == "some-key");
    // One owner per replica, each a different node.
    const auto& owners = doc["owners"].items();
    REQUIRE(owners.size() >= 1);
    CHECK(owners.size() <= 3);
    std::set<std::string> names;
    for (const auto& owner : owners) {
      CHECK(owner.has("name"));
      CHECK(owner.has("address"));
      names.insert(owner["name"].as_string());
    }
    CHECK(names.size() == owners.size());
  }

  SUBCASE("put, get, has, del; and get/has of a missing key") {
    auto put = ctl({"put", "json-key", "json \"value\"\n"});
    CHECK(put.exit_code() == 0);
    auto put_doc = json_object_with(put, {"key", "status"});
    CHECK(put_doc["status"].as_string() == "ok");

    auto get = ctl({"get", "json-key"});
    CHECK(get.exit_code() == 0);
    auto get_doc = json_object_with(get, {"key", "status", "value", "version"});
    CHECK(get_doc["key"].as_string() == "json-key");
    CHECK(get_doc["status"].as_string() == "ok");
    CHECK(get_doc["value"].as_string() == "json \"value\"\n");
    CHECK(get_doc["version"].as_number() > 0);

    auto has = ctl({"has", "json-key"});
    CHECK(has.exit_code() == 0);
    CHECK(json_object_with(has, {"key", "status"})["status"].as_string() == "ok");

    auto del = ctl({"del", "json-key"});
    CHECK(del.exit_code() == 0);
    CHECK(json_object_with(del, {"key", "status"})["status"].as_string() == "ok");

    auto missing = ctl({"get", "json-key"});
    CHECK(missing.exit_code() == 1);
    auto missing_doc = json_object_with(missing, {"key", "status"});
    CHECK(missing_doc["status"].as_string() == "not_found");
    CHECK_FALSE(missing_doc.has("value"));

    auto has_missing = ctl({"has", "json-key"});
    CHECK(has_missing.exit_code() == 1);
    CHECK(json_object_with(has_missing, {"key", "status"})["status"].as_string() == "not_found");
  }

  SUBCASE("stats") {
    auto run = ctl({"stats"});
    REQUIRE(run.exit_code() == 0);
    auto doc = json_object_with(run, {"nodes"});
    REQUIRE(doc["nodes"].items().size() == 3);
    for (const auto& row : doc["nodes"].items()) {
      for (const char* key : {"name", "address", "items", "bytes", "gets", "hits", "misses",
                              "puts", "deletes", "calls"}) {
        CHECK_MESSAGE(row.has(key), "stats row lacks ", key);
      }
      CHECK_FALSE(row.has("error"));
      CHECK(row["calls"].as_number() >= 1);  // at least this stats call
    }
  }

  SUBCASE("an error is JSON too, and exits 2") {
    std::string huge(1024 * 1024 + 1, 'z');
    auto run = run_ctl({"--seed", cluster->seed_address(), "--json", "put", "huge", "-"}, huge);
    CHECK(run.exit_code() == 2);
    auto doc = json_object_with(run, {"error", "message"});
    CHECK(doc["error"].as_string() == "too_large");
  }
}

TEST_CASE("discache-ctl members and stats print a table naming every node") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, why(cluster));
  INFO(cluster->logs());
  for (const char* command : {"members", "stats", "ring"}) {
    auto run = run_ctl({"--seed", cluster->seed_address(), command});
    INFO(command, ": ", run);
    CHECK(run.exit_code() == 0);
    for (std::size_t n = 0; n < cluster->size(); ++n) {
      CHECK(run.out.find(cluster->node(n).name()) != std::string::npos);
    }
  }
}

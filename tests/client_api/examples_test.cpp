// Every program in examples/ runs against a live 3-node cluster, with the
// seed as its first argument, and exits 0 (each exits 0 only when everything
// it shows worked).
#include <doctest/doctest.h>

#include "child_process.h"
#include "local_cluster.h"

using namespace discache::testing;
using namespace std::chrono_literals;

TEST_CASE("each example exits 0 against a live 3-node cluster") {
  auto cluster = LocalCluster::start();
  REQUIRE_MESSAGE(cluster, cluster.error());
  INFO(cluster->logs());

  // meson passes each example's path as DISCACHE_EXAMPLE_<NAME>.
  for (const char* variable : {"DISCACHE_EXAMPLE_BASIC", "DISCACHE_EXAMPLE_ASYNC",
                               "DISCACHE_EXAMPLE_BATCH", "DISCACHE_EXAMPLE_GET_OR_LOAD"}) {
    // A plain loop, not SUBCASE: a subcase would start a cluster per example.
    const std::string program = executable_from_env(variable);
    const auto run = run_command({program, cluster->seed_address()}, std::nullopt, 30s);
    INFO(program, " ", cluster->seed_address(), "\n", run);
    CHECK_FALSE(run.timed_out);
    CHECK(run.exit_code() == 0);
    CHECK_FALSE(run.out.empty());  // each says what it showed
  }
}

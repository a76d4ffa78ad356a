@0xc7e5938a8a18bf77;
# What discache-bench and memcached-bench print with --json (capnp's
# JsonCodec), and what discache-vs-memcached reads back. Member names are
# snake_case through $Json.name. Counts are Float64 because JsonCodec writes
# 64-bit integers as strings; doubles are exact up to 2^53.

using Cxx = import "/capnp/c++.capnp";
using Json = import "/capnp/compat/json.capnp";
$Cxx.namespace("discache::bench");

struct BenchReport {
  system @0 :Text;                 # "discache" or "memcached"
  # The load shape.
  threads @1 :UInt32;
  inFlight @2 :UInt32 $Json.name("in_flight");
  keys @3 :Float64;
  valueSize @4 :UInt32 $Json.name("value_size");
  getPercent @5 :Float64 $Json.name("get_percent");
  distribution @6 :Text;           # "uniform" or "zipf:ALPHA"
  multiget @7 :UInt32;             # keys per get call; 1 = single gets
  blocking @8 :Bool;               # one blocking call at a time per thread
  durationS @9 :Float64 $Json.name("duration_s");  # the measured window

  # Results over the measured window. An op is one call (a multiget of 100
  # keys is one op); keys_per_s counts keys.
  ops @10 :Float64;
  opsPerS @11 :Float64 $Json.name("ops_per_s");
  keysPerS @12 :Float64 $Json.name("keys_per_s");
  p50Us @13 :Float64 $Json.name("p50_us");
  p99Us @14 :Float64 $Json.name("p99_us");
  p999Us @15 :Float64 $Json.name("p999_us");
  hits @16 :Float64;               # keys found
  misses @17 :Float64;             # keys not found
  errors @18 :Float64;             # failed ops, and values that came back wrong

  # Measured from /proc/PID of the server (--server-pid); -1 when not measured.
  serverCpuUsPerOp @19 :Float64 $Json.name("server_cpu_us_per_op");
  serverCpuUsPerKey @20 :Float64 $Json.name("server_cpu_us_per_key");
  rssBytesPerItem @21 :Float64 $Json.name("rss_bytes_per_item");  # (VmRSS after preload - before) / keys
  preloadS @22 :Float64 $Json.name("preload_s");                  # 0 without a preload
}

# What discache-vs-memcached prints with --json: medians over the runs. The
# top-level discache / memcached / ratio members are scenario (a), the load
# issue 7's throughput and CPU targets name; every scenario is in `scenarios`.
struct Figures {
  opsPerS @0 :Float64 $Json.name("ops_per_s");
  p50Us @1 :Float64 $Json.name("p50_us");
  p99Us @2 :Float64 $Json.name("p99_us");
  serverCpuUsPerOp @3 :Float64 $Json.name("server_cpu_us_per_op");
  rssBytesPerItem @4 :Float64 $Json.name("rss_bytes_per_item");
}

struct ScenarioFigures {
  name @0 :Text;         # "a", "b", "c"
  description @1 :Text;
  perKey @2 :Bool $Json.name("per_key");  # ops_per_s and CPU count keys, not calls
  discache @3 :Figures;
  memcached @4 :Figures;
  ratio @5 :Figures;     # discache / memcached
}

struct Comparison {
  discache @0 :Figures;
  memcached @1 :Figures;
  ratio @2 :Figures;
  scenarios @3 :List(ScenarioFigures);
  runs @4 :UInt32;
  keys @5 :Float64;
  valueSize @6 :UInt32 $Json.name("value_size");
  machine @7 :Text;      # CPU model and count
  date @8 :Text;         # UTC, ISO 8601
  nodeTransport @9 :Text $Json.name("node_transport");
}

@0xeb6ddcc8719f10cf;
# What `discache-ctl --json` prints, encoded with capnp's JsonCodec. Counters
# are Float64 because JsonCodec writes 64-bit integers as strings; doubles are
# exact up to 2^53, far beyond any count a node reaches.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("discache::ctl");

struct MemberRow {
  name @0 :Text;
  address @1 :Text;
  state @2 :Text;
  incarnation @3 :Float64;
  items @4 :Float64;     # -1 when the node did not answer
  lastHeardMsAgo @5 :Float64;  # as seen by the node that answered
}

# One line of `discache-ctl watch --json` per member change.
struct WatchEvent {
  epoch @0 :Float64;
  name @1 :Text;
  address @2 :Text;
  state @3 :Text;
  incarnation @4 :Float64;
}

struct MembersOutput {
  epoch @0 :Float64;
  replicas @1 :UInt32;
  members @2 :List(MemberRow);
}

struct RingNodeRow {
  name @0 :Text;
  address @1 :Text;
  vnodes @2 :UInt32;
  share @3 :Float64;    # percent of the key space
}

struct RingOutput {
  epoch @0 :Float64;
  nodes @1 :List(RingNodeRow);
  imbalance @2 :Float64;
}

struct OwnerRow {
  name @0 :Text;
  address @1 :Text;
  holds @2 :Text;       # yes | no | unknown (did not answer)
}

struct OwnersOutput {
  key @0 :Text;
  owners @1 :List(OwnerRow);
}

struct KeyOutput {
  key @0 :Text;
  status @1 :Text;      # ok | not_found
  value @2 :Text;       # get only
  version @3 :Float64;
}

struct StatsRow {
  name @0 :Text;
  address @1 :Text;
  error @2 :Text;
  items @3 :Float64;
  bytes @4 :Float64;
  gets @5 :Float64;
  hits @6 :Float64;
  misses @7 :Float64;
  puts @8 :Float64;
  deletes @9 :Float64;
  calls @10 :Float64;
  batchCalls @11 :Float64;
  connections @12 :Float64;
  uptimeMs @13 :Float64;
  memoryUsed @14 :Float64;   # keys, values, item headers and index
  memoryLimit @15 :Float64;  # the node's --memory
  rssBytes @16 :Float64;
  evictions @17 :Float64;
  expirations @18 :Float64;
  handoffRuns @19 :Float64;
  handoffKeys @20 :Float64;
  handoffPending @21 :Bool;
  threads @22 :Float64;          # the node's event-loop threads (--threads)
  crossThreadOps @23 :Float64;   # ops that arrived on a thread not owning their key
  crossThreadHops @24 :Float64;  # cross-thread jobs that carried them
  unownedSweeps @25 :Float64;    # looks for copies of keys the node does not own
  unownedDropped @26 :Float64;   # such copies dropped (--unowned-grace)
  antiEntropyRounds @27 :Float64;    # digest exchanges started and finished
  antiEntropyRepaired @28 :Float64;  # keys they repaired, on either side
  antiEntropyBytes @29 :Float64;     # their messages, both ways
  inFlightBudget @30 :Float64;   # the node's --in-flight-budget
  inFlightBytes @31 :Float64;    # bytes of it in use now
  inFlightPeak @32 :Float64;     # the most in use so far
  readPauses @33 :Float64;       # reads that waited for room in it
  refusedFrames @34 :Float64;    # requests refused as larger than it can hold
}

struct StatsOutput {
  nodes @0 :List(StatsRow);
}

struct ErrorOutput {
  error @0 :Text;      # the Errc name, e.g. "unavailable"
  message @1 :Text;
}

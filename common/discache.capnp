@0xbeb5773104eb9e59;
# The wire contract between clients, tools and discache nodes.
#
# Evolution rule: only add fields and methods (with new ordinals); never renumber
# or change a field's type. Old clients then keep working against new nodes.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("discache::wire");

# The bootstrap capability. It hands out the Node capability so that
# authentication (cookie, issue "auth") plugs in here without a protocol break.
interface Gate {
  login @0 (cookie :Data, clientName :Text, replicas :UInt32) -> (node :Node);
  # An empty cookie is accepted by a node started without one. `replicas`:
  # the copies this client keeps of each key when it overrides the cluster's
  # N (0: the cluster's); nodes then keep that many owners' copies too.
}

# Outcome of one key operation. Business outcomes are values, not exceptions.
enum Status {
  ok @0;
  notFound @1;
  exists @2;           # put_if_absent met a live item
  versionMismatch @3;  # compare-and-set lost
  tooLarge @4;         # key or value over the node's limit
  outOfMemory @5;      # nothing could be evicted to make room
  invalid @6;          # malformed request (empty key, ...)
  stale @7;            # a write at least as new is already here; yours was not applied
  deferred @8;         # get: served later, not now: its value did not fit in this
                       # answer (a call's answer carries at most 8 MiB of values,
                       # or the node's in-flight budget was full); ask again
}

# How a put should behave. Kept as a struct so later options add fields.
struct PutOptions {
  ttlMs @0 :UInt64;        # 0 = no expiry
  mode @1 :PutMode;
  expectedVersion @2 :UInt64;  # for mode = compareAndSet
  version @3 :UInt64;      # writer's version; 0 = node assigns one. A put with a
                           # version applies only if it is newer than what the
                           # node holds (value or tombstone): replicas converge
                           # and read repair never resurrects old data.
  handoff @4 :Bool;        # a copy a node sends when the ring changes: a node
                           # being filled answers reads as misses for a while
                           # after one (docs/design.md, the joiner gate)
}

enum PutMode {
  upsert @0;
  ifAbsent @1;
  compareAndSet @2;
}

# One operation inside a batch call.
struct Op {
  key @0 :Data;
  union {
    get @1 :Void;
    put :group {
      value @2 :Data;
      options @3 :PutOptions;
    }
    delete @4 :Void;
    has @5 :Void;
  }
  version @6 :UInt64;  # delete: the deleter's version, kept in a tombstone
}

struct OpResult {
  status @0 :Status;
  value @1 :Data;      # get: the value
  version @2 :UInt64;  # get/put: the item's version; notFound: a tombstone's, or 0;
                       # stale: the newest version the node holds (item or
                       # tombstone), so the writer can write again above it
  message @3 :Text;    # for tooLarge/invalid: which limit, in words
  ttlMs @4 :UInt64;    # get: time the item has left to live, 0 = no expiry
}

enum MemberState {
  alive @0;
  suspect @1;
  dead @2;
  leaving @3;
  left @4;
}

struct Member {
  name @0 :Text;         # stable identity of a node process
  address @1 :Text;      # host:port clients and peers connect to
  state @2 :MemberState;
  incarnation @3 :UInt64;  # only the member itself raises it; newer wins
  lastHeardMsAgo @4 :UInt64;  # as seen by the node answering; 0 for itself
  bootId @5 :UInt64;     # random, new each time the node's store starts empty
                         # (a start, or forgetting after a freeze): a new one
                         # tells peers to refill it, as for a joining node
}

struct MemberList {
  epoch @0 :UInt64;    # grows with every change a node applies
  members @1 :List(Member);
  replicas @2 :UInt32; # cluster replication factor (N)
}

struct Stats {
  name @0 :Text;
  items @1 :UInt64;
  bytes @2 :UInt64;
  gets @3 :UInt64;
  hits @4 :UInt64;
  misses @5 :UInt64;
  puts @6 :UInt64;
  deletes @7 :UInt64;
  calls @8 :UInt64;        # RPC calls served (a batch counts once)
  batchCalls @9 :UInt64;
  uptimeMs @10 :UInt64;
  connections @11 :UInt64;
  memoryLimit @12 :UInt64;
  evictions @13 :UInt64;
  expirations @14 :UInt64;
  # `bytes` counts keys and values; memoryUsed adds item headers, padding and
  # the index, and never exceeds memoryLimit (--memory).
  memoryUsed @15 :UInt64;
  rssBytes @16 :UInt64;    # the node process's resident memory (VmRSS)
  handoffRuns @17 :UInt64;    # ring changes this node moved keys for
  handoffKeys @18 :UInt64;    # copies sent to other nodes by those handoffs
  handoffPending @19 :Bool;   # a handoff is running or due, or reads miss until one lands
  threads @20 :UInt32;        # event-loop threads (--threads), one shard each
  crossThreadOps @21 :UInt64; # ops that arrived on a thread not owning their key
  crossThreadHops @22 :UInt64; # cross-thread jobs that carried them (ops/hops = batching)
  unownedSweeps @23 :UInt64;   # completed looks for copies of keys this node does not own
  unownedDropped @24 :UInt64;  # such copies dropped (see --unowned-grace)
  # Anti-entropy (docs/design.md, Replication): digest exchanges this node
  # started and finished, keys they repaired (on either side), and the bytes
  # of the messages they sent and received.
  antiEntropyRounds @25 :UInt64;
  antiEntropyRepaired @26 :UInt64;
  antiEntropyBytes @27 :UInt64;
  # @28-@29: unused (never renumber: ordinals must stay contiguous).
  reserved28 @28 :UInt64;
  reserved29 @29 :UInt64;
  # The in-flight budget (--in-flight-budget): bytes held outside the arena
  # for clients (requests being read or run, answers not yet written).
  inFlightBudget @30 :UInt64;  # the limit
  inFlightBytes @31 :UInt64;   # in use now
  inFlightPeak @32 :UInt64;    # the most ever in use (answers may pass the limit)
  readPauses @33 :UInt64;      # times a connection's read waited for room
  refusedFrames @34 :UInt64;   # messages refused: larger than the budget can hold
}

interface Node {
  get @0 (key :Data) -> (result :OpResult);
  put @1 (key :Data, value :Data, options :PutOptions) -> (result :OpResult);
  delete @2 (key :Data) -> (result :OpResult);
  has @3 (key :Data) -> (found :Bool);

  # Many operations in one call: one call costs the node ~20 us of CPU, so the
  # client coalesces concurrent operations to one node. Results are in op order.
  batch @4 (ops :List(Op)) -> (results :List(OpResult));

  stats @5 () -> (stats :Stats);

  # Membership: anyone may read the list; a joining node announces itself.
  members @6 () -> (list :MemberList);
  join @7 (member :Member) -> (list :MemberList, refused :Text);
  # `refused` non-empty: the name is held by another live node at another
  # address (the text names both), and the joiner must not serve under it;
  # `list` is then empty. See docs/design.md, "One name, one node".
  # Push-pull gossip between nodes: send what you know, get what the peer knows.
  # Nodes also use it as their heartbeat (see docs/design.md, Membership).
  gossip @8 (list :MemberList, from :Text) -> (list :MemberList);
  # `from` names the sender: the receiver counts the call as hearing from it.

  # Leave the cluster gracefully: hand every key to its new owners, then exit.
  # Answers once the node is `leaving`; it is `left` when the handoff is done.
  drain @10 () -> ();

  # Subscribe to member-list changes. The node calls watcher.changed() with the
  # whole list after each change (at most one call in flight per watcher,
  # coalescing changes that happen meanwhile) until `handle` is dropped or the
  # connection ends.
  watch @9 (watcher :MemberWatcher) -> (handle :WatchHandle, list :MemberList);

  # Anti-entropy between co-owners (peer nodes only; docs/design.md,
  # Replication). `from` sends, for the keys both nodes own (among the first
  # N owners under the ring of serving nodes; `ringId` hashes those names
  # and N), one digest per key-hash bucket
  # (digests.size() buckets, a power of two). The callee answers with its own
  # ringId; when they match, with how many buckets differ and, for at most
  # `maxBuckets` of them taken in order from `firstBucket` (wrapping), the
  # bucket ids and every (key, version, deleted) it holds in them, and
  # `forgotten`: the newest version of a delete it may no longer remember (a
  # tombstone it dropped), below which a value it lacks may have been
  # deleted there. The caller then pushes what it has newer
  # and pulls what the callee has newer with ordinary versioned batch ops.
  reconcile @11 (from :Text, ringId :UInt64, digests :List(UInt64), firstBucket :UInt32,
                 maxBuckets :UInt32)
      -> (ringId :UInt64, differing :UInt32, buckets :List(UInt32),
          entries :List(ReconcileEntry), forgotten :UInt64);
  # @12 is reserved for anti-entropy too.
}

# What a node holds for one key, as anti-entropy compares it.
struct ReconcileEntry {
  key @0 :Data;
  version @1 :UInt64;
  deleted @2 :Bool;  # a live tombstone, not a value
}

interface MemberWatcher {
  changed @0 (list :MemberList) -> ();
}

# Holding it keeps a subscription alive; it has no methods.
interface WatchHandle {}

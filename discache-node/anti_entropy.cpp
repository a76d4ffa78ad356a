#include "anti_entropy.h"

#include <capnp/message.h>
#include <kj/debug.h>
#include <kj/vector.h>

#include <algorithm>
#include <iostream>
#include <unordered_map>
#include <unordered_set>

#include "node_clock.h"
#include "reconcile_digest.h"
#include "task_failures.h"
#include "wire_text.h"

namespace discache::node {
namespace {

// Items digested or collected per cross-thread job: the shard's loop serves
// clients between jobs (about a millisecond each).
constexpr std::size_t kScanChunk = 4096;
// The entries one answer carries: an exchange's work is bounded, and many
// differing buckets take several rounds. The callee collects entries for
// as many buckets as its average bucket size says fit.
constexpr std::size_t kMaxEntryBytes = 2 << 20;
// Repair batches: ops and bytes per push; keys per pull, fewer when values
// may be large (an answer over the 64 MiB reader limit would end the link).
constexpr std::size_t kPushOps = 256;
constexpr std::size_t kPushBytes = 4 << 20;
constexpr std::size_t kPullKeys = 32;
constexpr std::size_t kPullBytes = 16 << 20;
constexpr auto kCallTimeout = 60 * kj::SECONDS;

bool serving(MemberState state) {
  return state == MemberState::alive || state == MemberState::suspect;
}

// Loop 0 only.
std::vector<std::string> serving_names(const NodeContext& ctx) {
  std::vector<std::string> names;
  for (const auto& m : ctx.members.list().members) {
    if (serving(m.state)) {
      names.push_back(m.name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::size_t cluster_replicas(const NodeContext& ctx) {
  return std::clamp<std::size_t>(ctx.members.list().replicas, 1, 16);
}

using Scope = std::shared_ptr<const ReconcileScope>;

kj::Promise<void> digest_shard(NodeLoop& loop, std::size_t shard, Scope scope,
                               std::shared_ptr<DigestTable> table, std::uint64_t cursor,
                               bool first) {
  return loop
      .run_on(shard,
              [&ctx = loop.node(), shard, scope, table, cursor, first]() {
                const std::uint64_t now = node_now_ms();
                const ShardState& state = *ctx.shards[shard];
                if (first) {
                  digest_tombstones(*scope, state, now, *table);
                }
                return digest_items(*scope, state, cursor, kScanChunk, now, *table);
              })
      .then([&loop, shard, scope, table](std::uint64_t next) -> kj::Promise<void> {
        if (next == 0) {
          return kj::READY_NOW;
        }
        return digest_shard(loop, shard, scope, table, next, false);
      });
}

// Every shard digests itself on its own loop, all at once; summed here.
kj::Promise<DigestTable> digest_all(NodeLoop& loop, Scope scope, std::uint32_t buckets) {
  std::vector<std::shared_ptr<DigestTable>> tables;
  kj::Vector<kj::Promise<void>> parts;
  for (std::size_t i = 0; i < loop.node().loop_count(); ++i) {
    tables.push_back(std::make_shared<DigestTable>(scope->peers.size(), buckets));
    parts.add(digest_shard(loop, i, scope, tables.back(), 0, true));
  }
  return kj::joinPromises(parts.releaseAsArray()).then([tables]() {
    DigestTable total = *tables.front();
    for (std::size_t i = 1; i < tables.size(); ++i) {
      total.add(*tables[i]);
    }
    return total;
  });
}

// What a node holds in some buckets for one peer: one entry per key (the
// newest, if a scan saw a key twice), and the newest delete it may have
// forgotten, read in the same job as its tombstones.
struct Collected {
  std::unordered_map<std::string, ReconcileEntry> entries;
  std::uint64_t forgotten = 0;
};

struct ShardCollected {
  std::vector<ReconcileEntry> entries;
  std::uint64_t forgotten = 0;
};
using BucketSet = std::shared_ptr<const std::unordered_set<std::uint32_t>>;

kj::Promise<void> collect_shard(NodeLoop& loop, std::size_t shard, Scope scope,
                                std::uint32_t buckets, BucketSet wanted,
                                std::shared_ptr<ShardCollected> out, std::uint64_t cursor,
                                bool first) {
  return loop
      .run_on(shard,
              [&ctx = loop.node(), shard, scope, buckets, wanted, out, cursor, first]() {
                const std::uint64_t now = node_now_ms();
                const ShardState& state = *ctx.shards[shard];
                if (first) {
                  out->forgotten = state.tombstones.forgotten_version(now);
                  collect_tombstones(*scope, state, now, buckets, *wanted, out->entries);
                }
                return collect_items(*scope, state, cursor, kScanChunk, now, buckets, *wanted,
                                     out->entries);
              })
      .then([&loop, shard, scope, buckets, wanted, out](std::uint64_t next) -> kj::Promise<void> {
        if (next == 0) {
          return kj::READY_NOW;
        }
        return collect_shard(loop, shard, scope, buckets, wanted, out, next, false);
      });
}

// What this node holds in `wanted` buckets for the scope's one peer.
kj::Promise<Collected> collect_all(NodeLoop& loop, Scope scope, std::uint32_t buckets,
                                   BucketSet wanted) {
  std::vector<std::shared_ptr<ShardCollected>> parts_out;
  kj::Vector<kj::Promise<void>> parts;
  for (std::size_t i = 0; i < loop.node().loop_count(); ++i) {
    parts_out.push_back(std::make_shared<ShardCollected>());
    parts.add(collect_shard(loop, i, scope, buckets, wanted, parts_out.back(), 0, true));
  }
  return kj::joinPromises(parts.releaseAsArray()).then([parts_out]() {
    Collected merged;
    for (const auto& part : parts_out) {
      merged.forgotten = std::max(merged.forgotten, part->forgotten);
      for (auto& entry : part->entries) {
        auto [it, inserted] = merged.entries.try_emplace(entry.key, entry);
        if (!inserted && entry.version > it->second.version) {
          it->second = std::move(entry);
        }
      }
    }
    return merged;
  });
}

// An entry's share of an answer: its key, version, flag and list pointer.
constexpr std::size_t kEntryOverhead = 24;
std::size_t entry_bytes(const ReconcileEntry& e) {
  return e.key.size() + kEntryOverhead;
}

}  // namespace

// ---- the callee ---------------------------------------------------------------

// TODO(security): any caller holding the cookie may call reconcile, and
// each call scans the store once; peers call it once per interval, but
// nothing stops a client from calling it in a loop. A per-caller limit
// (one running, one per interval) would bound that.
kj::Promise<void> answer_reconcile(
    NodeLoop& loop,
    capnp::CallContext<wire::Node::ReconcileParams, wire::Node::ReconcileResults> context) {
  auto params = context.getParams();
  auto digests_in = params.getDigests();
  const std::uint32_t buckets = digests_in.size();
  KJ_REQUIRE(buckets >= 1 && buckets <= 65536 && (buckets & (buckets - 1)) == 0,
             "reconcile: the bucket count must be a power of two up to 65536");
  KJ_REQUIRE(params.getFrom().size() > 0, "reconcile: empty `from`");
  auto theirs = std::make_shared<std::vector<std::uint64_t>>();
  theirs->reserve(buckets);
  for (auto digest : digests_in) {
    theirs->push_back(digest);
  }
  const std::uint64_t their_ring = params.getRingId();
  const std::uint32_t first = params.getFirstBucket() & (buckets - 1);
  const std::uint32_t max_buckets = std::min(params.getMaxBuckets(), buckets);
  struct View {
    Scope scope;
    std::uint64_t ring_id = 0;
  };
  return loop
      .run_on(0,
              [&ctx = loop.node(), from = to_std(params.getFrom())]() {
                const auto names = serving_names(ctx);
                const std::size_t replicas = cluster_replicas(ctx);
                return View{ReconcileScope::make(names, replicas, ctx.name(), {from}),
                            reconcile_ring_id(names, replicas)};
              })
      .then([&loop, context, theirs, their_ring, buckets, first,
             max_buckets](View view) mutable -> kj::Promise<void> {
        context.getResults().setRingId(view.ring_id);
        if (view.scope == nullptr || view.ring_id != their_ring) {
          return kj::READY_NOW;  // a ring change is still spreading: nothing is comparable
        }
        return digest_all(loop, view.scope, buckets)
            .then([&loop, context, theirs, buckets, first, max_buckets,
                   scope = view.scope](DigestTable mine) mutable -> kj::Promise<void> {
              std::vector<std::uint32_t> differing;
              for (std::uint32_t b = 0; b < buckets; ++b) {
                if (mine.sums[b] != (*theirs)[b]) {
                  differing.push_back(b);
                }
              }
              context.getResults().setDiffering(static_cast<std::uint32_t>(differing.size()));
              if (differing.empty() || max_buckets == 0) {
                return kj::READY_NOW;
              }
              // Collect no more buckets than the byte bound will let go:
              // entries of the rest would be gathered only to be dropped.
              const std::uint64_t per_bucket =
                  (mine.key_bytes + kEntryOverhead * mine.entries) / buckets + 1;
              const auto fit = static_cast<std::uint32_t>(
                  std::clamp<std::uint64_t>(kMaxEntryBytes / per_bucket, 1, max_buckets));
              // From `first` on, wrapping, so every differing bucket gets its turn.
              auto start = std::lower_bound(differing.begin(), differing.end(), first);
              std::rotate(differing.begin(), start, differing.end());
              differing.resize(std::min<std::size_t>(differing.size(), fit));
              auto wanted = std::make_shared<const std::unordered_set<std::uint32_t>>(
                  differing.begin(), differing.end());
              return collect_all(loop, scope, buckets, wanted)
                  .then([context, differing, buckets](Collected held) mutable {
                    std::unordered_map<std::uint32_t, std::vector<const ReconcileEntry*>> by_bucket;
                    for (const auto& [key, entry] : held.entries) {
                      by_bucket[reconcile_bucket(hash_key(key), buckets)].push_back(&entry);
                    }
                    // Whole buckets only (the caller compares a bucket's
                    // entries as a set), as many as fit the byte bound; at
                    // least one, which is bounded by the store's size / buckets.
                    std::vector<std::uint32_t> sent;
                    std::size_t count = 0;
                    std::size_t bytes = 0;
                    for (std::uint32_t b : differing) {
                      std::size_t size = 0;
                      for (const auto* e : by_bucket[b]) {
                        size += entry_bytes(*e);
                      }
                      if (!sent.empty() && bytes + size > kMaxEntryBytes) {
                        break;
                      }
                      sent.push_back(b);
                      bytes += size;
                      count += by_bucket[b].size();
                    }
                    auto results = context.getResults();
                    results.setForgotten(held.forgotten);
                    auto ids = results.initBuckets(static_cast<unsigned>(sent.size()));
                    auto entries = results.initEntries(static_cast<unsigned>(count));
                    unsigned i = 0;
                    for (unsigned s = 0; s < sent.size(); ++s) {
                      ids.set(s, sent[s]);
                      for (const auto* e : by_bucket[sent[s]]) {
                        entries[i].setKey(data_of(e->key));
                        entries[i].setVersion(e->version);
                        entries[i].setDeleted(e->deleted);
                        ++i;
                      }
                    }
                  });
            });
      });
}

// ---- the caller ---------------------------------------------------------------

// One repair write: a versioned put or delete.
struct AntiEntropy::RepairOp {
  std::string key;
  std::string value;
  std::uint64_t version = 0;
  std::uint64_t ttl_ms = 0;
  bool deleted = false;

  void fill(wire::Op::Builder op) const {
    op.setKey(data_of(key));
    if (deleted) {
      op.setDelete();
      op.setVersion(version);
      return;
    }
    auto put = op.initPut();
    put.setValue(data_of(value));
    auto options = put.initOptions();
    options.setVersion(version);
    options.setTtlMs(ttl_ms);
  }

  // It took effect: not refused as stale (a delete of a key the node did
  // not hold still leaves its tombstone).
  bool repaired(wire::OpResult::Reader result) const {
    const auto status = result.getStatus();
    return status == wire::Status::OK || (deleted && status == wire::Status::NOT_FOUND);
  }
};

struct AntiEntropy::Round {
  std::vector<std::string> serving;
  std::size_t replicas = 1;
  std::vector<std::string> peers;  // by row of `scope`
  Scope scope;
  DigestTable digests;
};

struct AntiEntropy::Exchange {
  std::shared_ptr<Round> round;
  std::size_t row = 0;
  std::string peer;
  wire::Node::Client node = nullptr;
  std::uint32_t differing = 0;         // buckets whose digests differ
  std::uint64_t their_forgotten = 0;   // the newest delete the peer may have forgotten
  std::vector<std::uint32_t> buckets;  // those compared this time
  std::unordered_map<std::string, ReconcileEntry> theirs;
  std::vector<RepairOp> push;     // versioned writes for the peer
  std::vector<std::string> pull;  // keys to read from the peer
  std::vector<RepairOp> local;    // versioned writes for this node
  std::uint64_t bytes = 0;
  std::uint64_t repaired = 0;
};

AntiEntropy::AntiEntropy(NodeLoop& loop, PeerLinks& peers, kj::Timer& timer, kj::Duration interval)
    : loop_(loop),
      ctx_(loop.node()),
      peers_(peers),
      timer_(timer),
      interval_(interval),
      errors_(kj::heap<LogTaskFailures>("anti-entropy exchange failed")),
      tasks_(*errors_) {}

kj::Promise<void> AntiEntropy::run() {
  return timer_.afterDelay(interval_)
      .then([this]() {
        return round().catch_([this](kj::Exception&& e) {
          std::cerr << "discache-node[" << ctx_.name()
                    << "]: anti-entropy round failed: " << e.getDescription().cStr() << std::endl;
        });
      })
      .then([this]() { return run(); });
}

kj::Promise<void> AntiEntropy::round() {
  if (ctx_.counters.handoff_pending) {
    return kj::READY_NOW;  // the ring is moving: the handoff copies, and rings would differ
  }
  auto r = std::make_shared<Round>();
  r->serving = serving_names(ctx_);
  r->replicas = cluster_replicas(ctx_);
  // Each pair once per interval, started by one of the two.
  for (const auto& name : r->serving) {
    if (name != ctx_.name() && starts_reconcile(ctx_.name(), name) && !busy_.contains(name)) {
      r->peers.push_back(name);
    }
  }
  if (r->peers.empty()) {
    return kj::READY_NOW;
  }
  r->scope = ReconcileScope::make(r->serving, r->replicas, ctx_.name(), r->peers);
  if (r->scope == nullptr) {
    return kj::READY_NOW;  // this node is not serving
  }
  return digest_all(loop_, r->scope, kReconcileBuckets).then([this, r](DigestTable table) {
    r->digests = std::move(table);
    // All peers at once, and the round ends without waiting for them: a
    // peer that is frozen (it answers nothing until the exchange times out)
    // must hold up neither the others nor the next round, since every pair
    // has to meet within the tombstone lifetime. Each exchange loads a
    // different peer; this node's own scans for them interleave on its loops.
    for (std::size_t row = 0; row < r->peers.size(); ++row) {
      const std::string& peer = r->peers[row];
      busy_.insert(peer);
      tasks_.add(exchange(r, row).attach(kj::defer([this, peer]() { busy_.erase(peer); })));
    }
  });
}

kj::Promise<void> AntiEntropy::exchange(std::shared_ptr<Round> r, std::size_t row) {
  auto ex = std::make_shared<Exchange>();
  ex->round = r;
  ex->row = row;
  ex->peer = r->peers[row];
  const Member* member = nullptr;
  for (const auto& m : ctx_.members.list().members) {
    if (m.name == ex->peer) {
      member = &m;
    }
  }
  if (member == nullptr) {
    return kj::READY_NOW;
  }
  auto call = peers_.link(*member).then([this, ex](wire::Node::Client node) {
    ex->node = node;
    const Round& round = *ex->round;
    auto request = node.reconcileRequest();
    request.setFrom(text_of(ctx_.name()));
    request.setRingId(round.scope->id);
    const std::uint64_t* row = round.digests.row(ex->row);
    auto digests = request.initDigests(round.digests.buckets);
    for (std::uint32_t b = 0; b < round.digests.buckets; ++b) {
      digests.set(b, row[b]);
    }
    request.setFirstBucket(next_bucket_[ex->peer]);
    request.setMaxBuckets(kReconcileBuckets);  // as many as the callee's byte bound allows
    ex->bytes += request.totalSize().wordCount * 8;
    return request.send().then(
        [this, ex](capnp::Response<wire::Node::ReconcileResults> response) -> kj::Promise<void> {
          ex->bytes += response.totalSize().wordCount * 8;
          if (response.getRingId() != ex->round->scope->id) {
            return kj::READY_NOW;  // the peer's ring differs: a change is spreading
          }
          ex->differing = response.getDiffering();
          ex->their_forgotten = response.getForgotten();
          for (auto id : response.getBuckets()) {
            ex->buckets.push_back(id);
          }
          for (auto e : response.getEntries()) {
            ReconcileEntry entry{to_std(e.getKey()), e.getVersion(), e.getDeleted()};
            auto [it, inserted] = ex->theirs.try_emplace(entry.key, entry);
            if (!inserted && entry.version > it->second.version) {
              it->second = std::move(entry);
            }
          }
          if (ex->buckets.empty()) {
            return kj::READY_NOW;
          }
          next_bucket_[ex->peer] = (ex->buckets.back() + 1) & (kReconcileBuckets - 1);
          return repair(ex);
        });
  });
  return timer_.timeoutAfter(kCallTimeout, kj::mv(call))
      .then(
          [this, ex]() {
            ++ctx_.counters.anti_entropy_rounds;
            ctx_.counters.anti_entropy_bytes += ex->bytes;
            ctx_.counters.anti_entropy_repaired += ex->repaired;
            if (ex->repaired > 0) {
              std::cerr << "discache-node[" << ctx_.name() << "]: anti-entropy: " << ex->repaired
                        << " keys repaired between this node and " << ex->peer << " ("
                        << ex->differing << " buckets differed, " << ex->buckets.size()
                        << " compared, " << ex->bytes << " bytes)" << std::endl;
            }
          },
          [this, ex](kj::Exception&& e) {
            // Counted too: what it moved before failing crossed the wire.
            ctx_.counters.anti_entropy_bytes += ex->bytes;
            ctx_.counters.anti_entropy_repaired += ex->repaired;
            // A broken link is made anew next time; a slow peer (timeout)
            // keeps it, since gossip shares it.
            if (e.getType() == kj::Exception::Type::DISCONNECTED) {
              peers_.drop(ex->peer);
            }
            std::cerr << "discache-node[" << ctx_.name() << "]: anti-entropy with " << ex->peer
                      << " failed: " << e.getDescription().cStr() << std::endl;
          });
}

kj::Promise<void> AntiEntropy::repair(std::shared_ptr<Exchange> ex) {
  const Round& r = *ex->round;
  auto scope = ReconcileScope::make(r.serving, r.replicas, ctx_.name(), {ex->peer});
  auto wanted = std::make_shared<const std::unordered_set<std::uint32_t>>(ex->buckets.begin(),
                                                                          ex->buckets.end());
  auto plan =
      collect_all(loop_, scope, kReconcileBuckets, wanted).then([this, ex](Collected collected) {
        const auto& mine = collected.entries;
        std::vector<std::string> to_read;  // mine, newer: values to push
        auto decide = [&](const ReconcileEntry* m, const ReconcileEntry* t) {
          switch (reconcile_action(m, t, collected.forgotten, ex->their_forgotten)) {
            case ReconcileAction::push:
              if (m->deleted) {
                ex->push.push_back(RepairOp{m->key, {}, m->version, 0, true});
              } else {
                to_read.push_back(m->key);
              }
              return;
            case ReconcileAction::pull:
              if (t->deleted) {
                ex->local.push_back(RepairOp{t->key, {}, t->version, 0, true});
              } else {
                ex->pull.push_back(t->key);
              }
              return;
            case ReconcileAction::none:
              return;
          }
        };
        for (const auto& [key, m] : mine) {
          auto it = ex->theirs.find(key);
          decide(&m, it == ex->theirs.end() ? nullptr : &it->second);
        }
        for (const auto& [key, t] : ex->theirs) {
          if (!mine.contains(key)) {
            decide(nullptr, &t);
          }
        }
        return read_values(std::move(to_read));
      });
  return plan
      .then([this, ex](std::vector<RepairOp> values) {
        for (auto& v : values) {
          ex->push.push_back(std::move(v));
        }
        return push(ex, 0);
      })
      .then([this, ex]() { return apply_local(ex, std::move(ex->local)); })
      .then([this, ex]() { return pull(ex, 0); });
}

kj::Promise<std::vector<AntiEntropy::RepairOp>> AntiEntropy::read_values(
    std::vector<std::string> keys) {
  // Read now, each on its shard's loop: an item may have changed since the
  // scan (then its newer version goes, which is as good).
  std::vector<std::vector<std::string>> by_shard(ctx_.loop_count());
  for (auto& key : keys) {
    by_shard[ctx_.store.shard_index(hash_key(key))].push_back(std::move(key));
  }
  kj::Vector<kj::Promise<std::vector<RepairOp>>> reads;
  for (std::size_t i = 0; i < by_shard.size(); ++i) {
    if (by_shard[i].empty()) {
      continue;
    }
    reads.add(loop_.run_on(i, [&ctx = ctx_, i, shard_keys = std::move(by_shard[i])]() {
      const std::uint64_t now = node_now_ms();
      std::vector<RepairOp> found;
      for (const auto& key : shard_keys) {
        if (const ItemView* item = ctx.shards[i]->items.find(key, now)) {
          found.push_back(
              RepairOp{key, std::string(item->value), item->version, item->ttl_ms, false});
        }
      }
      return found;
    }));
  }
  return kj::joinPromises(reads.releaseAsArray()).then([](kj::Array<std::vector<RepairOp>> parts) {
    std::vector<RepairOp> all;
    for (auto& part : parts) {
      for (auto& op : part) {
        all.push_back(std::move(op));
      }
    }
    return all;
  });
}

kj::Promise<void> AntiEntropy::push(std::shared_ptr<Exchange> ex, std::size_t begin) {
  if (begin >= ex->push.size()) {
    return kj::READY_NOW;
  }
  std::size_t end = begin;
  std::size_t bytes = 0;
  while (end < ex->push.size() && end - begin < kPushOps &&
         (end == begin || bytes + ex->push[end].value.size() <= kPushBytes)) {
    bytes += ex->push[end].key.size() + ex->push[end].value.size();
    ++end;
  }
  auto request = ex->node.batchRequest();
  auto ops = request.initOps(static_cast<unsigned>(end - begin));
  for (std::size_t i = begin; i < end; ++i) {
    ex->push[i].fill(ops[static_cast<unsigned>(i - begin)]);
  }
  ex->bytes += request.totalSize().wordCount * 8;
  return request.send().then(
      [this, ex, begin, end](capnp::Response<wire::Node::BatchResults> response) {
        ex->bytes += response.totalSize().wordCount * 8;
        auto results = response.getResults();
        for (std::size_t i = begin; i < end && i - begin < results.size(); ++i) {
          if (ex->push[i].repaired(results[static_cast<unsigned>(i - begin)])) {
            ++ex->repaired;
          }
        }
        return push(ex, end);
      });
}

kj::Promise<void> AntiEntropy::pull(std::shared_ptr<Exchange> ex, std::size_t begin) {
  if (begin >= ex->pull.size()) {
    return kj::READY_NOW;
  }
  const StoreLimits& limits = ctx_.store.limits();
  const std::size_t largest = limits.max_key_bytes + limits.max_value_bytes + 64;
  const std::size_t keys = std::clamp<std::size_t>(kPullBytes / largest, 1, kPullKeys);
  const std::size_t end = std::min(ex->pull.size(), begin + keys);
  auto request = ex->node.batchRequest();
  auto ops = request.initOps(static_cast<unsigned>(end - begin));
  for (std::size_t i = begin; i < end; ++i) {
    ops[static_cast<unsigned>(i - begin)].setKey(data_of(ex->pull[i]));
    ops[static_cast<unsigned>(i - begin)].setGet();
  }
  ex->bytes += request.totalSize().wordCount * 8;
  return request.send().then(
      [this, ex, begin, end](capnp::Response<wire::Node::BatchResults> response) {
        ex->bytes += response.totalSize().wordCount * 8;
        auto results = response.getResults();
        std::vector<RepairOp> writes;
        for (std::size_t i = begin; i < end && i - begin < results.size(); ++i) {
          auto result = results[static_cast<unsigned>(i - begin)];
          if (result.getStatus() == wire::Status::OK) {
            writes.push_back(RepairOp{ex->pull[i], to_std(result.getValue()), result.getVersion(),
                                      result.getTtlMs(), false});
          } else if (result.getStatus() == wire::Status::NOT_FOUND && result.getVersion() != 0) {
            writes.push_back(RepairOp{ex->pull[i], {}, result.getVersion(), 0, true});
          }
        }
        return apply_local(ex, std::move(writes)).then([this, ex, end]() { return pull(ex, end); });
      });
}

kj::Promise<void> AntiEntropy::apply_local(std::shared_ptr<Exchange> ex,
                                           std::vector<RepairOp> writes) {
  if (writes.empty()) {
    return kj::READY_NOW;
  }
  // Through the same path as a client's batch, so the same version and
  // tombstone rules decide.
  auto request = kj::heap<capnp::MallocMessageBuilder>();
  auto ops =
      request->initRoot<wire::Node::BatchParams>().initOps(static_cast<unsigned>(writes.size()));
  for (unsigned i = 0; i < writes.size(); ++i) {
    writes[i].fill(ops[i]);
  }
  auto answer = kj::heap<capnp::MallocMessageBuilder>();
  auto results = answer->initRoot<wire::Node::BatchResults>().initResults(
      static_cast<unsigned>(writes.size()));
  auto done = loop_.apply(ops.asReader(), results);
  return done.attach(kj::mv(request))
      .then([ex, writes = std::move(writes), answer = kj::mv(answer)]() mutable {
        auto results = answer->getRoot<wire::Node::BatchResults>().asReader().getResults();
        for (unsigned i = 0; i < writes.size() && i < results.size(); ++i) {
          if (writes[i].repaired(results[i])) {
            ++ex->repaired;
          }
        }
      });
}

}  // namespace discache::node

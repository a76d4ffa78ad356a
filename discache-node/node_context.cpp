#include "node_context.h"

namespace discache::node {
namespace {

std::vector<std::unique_ptr<ShardState>> make_shards(ShardedStore& store, const std::string& name,
                                                     const HealState& heal) {
  // Tombstones are bounded per node; each shard keeps its share. Each costs
  // 238 bytes measured at 29-byte keys (the key is held twice: map entry and
  // expiry queue), outside --memory: ~240 MB for a million (docs/design.md,
  // Replication).
  constexpr std::size_t kMaxTombstones = 1'000'000;
  const auto writer = static_cast<std::uint16_t>(std::hash<std::string>{}(name));
  std::vector<std::unique_ptr<ShardState>> shards;
  for (std::size_t i = 0; i < store.shard_count(); ++i) {
    shards.push_back(std::make_unique<ShardState>(store.shard(i), writer,
                                                  kMaxTombstones / store.shard_count(), heal));
  }
  return shards;
}

}  // namespace

NodeContext::NodeContext(Member self, std::uint32_t replicas, StoreLimits limits,
                         MemberTable::ChangeLog log, std::size_t loops)
    : store(limits, loops),
      shards(make_shards(store, self.name, heal)),
      members(self, replicas,
              [this, log = std::move(log)](const std::string& what) {
                log(what);
                if (on_membership_change) {
                  on_membership_change();
                }
              },
              [this](const std::string& why) {
                if (on_name_taken) {
                  on_name_taken(why);
                }
              }),
      executors(loops),
      name_(self.name) {
  this->loops.resize(loops, nullptr);
}

}  // namespace discache::node

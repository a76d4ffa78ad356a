// Eviction: what a full store gives up first, under SIEVE and under LRU,
// and SIEVE's miss ratio against LRU's on a skewed trace.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "item_store.h"

namespace discache::node {
namespace {

constexpr std::uint64_t kNow = 1'000'000;
const std::string kValue(100, 'v');

StoreLimits limits_for(EvictionPolicy policy, std::uint64_t memory = 256 * 1024) {
  StoreLimits limits{.max_key_bytes = 64, .max_value_bytes = 4096};
  limits.memory_bytes = memory;
  limits.eviction = policy;
  return limits;
}

// Fixed-width keys, so every item has the same size.
std::string key_of(std::uint64_t n) {
  char key[32];
  std::snprintf(key, sizeof key, "key-%012llu", static_cast<unsigned long long>(n));
  return key;
}

bool put(ItemStore& store, std::uint64_t n) {
  return store.put(PutRequest{.key = key_of(n), .value = kValue}, kNow).status == StoreStatus::ok;
}

// Puts keys first, first+1, ... until the first eviction; returns the count
// that fitted (the key that caused the eviction is stored too).
std::uint64_t fill_until_eviction(ItemStore& store, std::uint64_t first) {
  std::uint64_t n = first;
  while (store.evictions() == 0) {
    REQUIRE(put(store, n));
    ++n;
    REQUIRE(n - first < 1'000'000);
  }
  return n - first - 1;
}

TEST_CASE("without reads, both policies evict the oldest item first") {
  for (EvictionPolicy policy : {EvictionPolicy::sieve, EvictionPolicy::lru}) {
    CAPTURE(to_string(policy));
    ItemStore store(limits_for(policy));
    const std::uint64_t fitted = fill_until_eviction(store, 0);
    CHECK(fitted > 1000);
    CHECK(store.find(key_of(0), kNow) == nullptr);
    CHECK(store.find(key_of(1), kNow) != nullptr);
    CHECK(store.find(key_of(fitted), kNow) != nullptr);
  }
}

TEST_CASE("an item read since it was written survives the next eviction") {
  for (EvictionPolicy policy : {EvictionPolicy::sieve, EvictionPolicy::lru}) {
    CAPTURE(to_string(policy));
    ItemStore store(limits_for(policy));
    REQUIRE(put(store, 0));
    REQUIRE(put(store, 1));
    REQUIRE(store.find(key_of(0), kNow) != nullptr);
    fill_until_eviction(store, 2);
    // Key 0 was read, so the oldest unread item (key 1) went instead.
    CHECK(store.find(key_of(1), kNow) == nullptr);
    CHECK(store.find(key_of(0), kNow) != nullptr);
  }
}

TEST_CASE("SIEVE keeps a read item in place and clears its bit as the hand passes") {
  ItemStore store(limits_for(EvictionPolicy::sieve));
  REQUIRE(put(store, 0));
  REQUIRE(store.find(key_of(0), kNow) != nullptr);
  const std::uint64_t fitted = fill_until_eviction(store, 1);
  // The hand passed key 0 (clearing its bit) and now evicts in insertion
  // order ahead of it: key 0 stays behind the hand through a whole turn.
  std::uint64_t next = fitted + 2;
  for (; next < 2 * fitted; ++next) {
    REQUIRE(put(store, next));
  }
  CHECK(store.find(key_of(1), kNow) == nullptr);
  CHECK(store.find(key_of(next - 1), kNow) != nullptr);
  // find() just set key 0's bit again; take it out and put it back unread,
  // then read everything else: the hand must go round to key 0.
  REQUIRE(store.erase(key_of(0), kNow) == StoreStatus::ok);
  REQUIRE(put(store, 0));
  for (std::uint64_t n = 1; n < next; ++n) {
    store.find(key_of(n), kNow);
  }
  REQUIRE(put(store, next));
  CHECK(store.find(key_of(0), kNow) == nullptr);
}

TEST_CASE("a scan does not flush SIEVE's hot items, and does flush LRU's") {
  // 200 hot keys read over and over, then a scan of 20,000 keys read once.
  auto hot_hits_after_scan = [](EvictionPolicy policy) {
    ItemStore store(limits_for(policy));
    for (int round = 0; round < 5; ++round) {
      for (std::uint64_t n = 0; n < 200; ++n) {
        if (store.find(key_of(n), kNow) == nullptr) {
          REQUIRE(put(store, n));
        }
      }
    }
    for (std::uint64_t n = 1'000'000; n < 1'020'000; ++n) {
      // The scan: each key read once (a miss), then written.
      REQUIRE(store.find(key_of(n), kNow) == nullptr);
      REQUIRE(put(store, n));
      // The hot keys keep being read during the scan, a little.
      if (n % 50 == 0) {
        store.find(key_of(n / 50 % 200), kNow);
      }
    }
    int hits = 0;
    for (std::uint64_t n = 0; n < 200; ++n) {
      hits += store.find(key_of(n), kNow) != nullptr ? 1 : 0;
    }
    return hits;
  };
  const int sieve = hot_hits_after_scan(EvictionPolicy::sieve);
  const int lru = hot_hits_after_scan(EvictionPolicy::lru);
  INFO("hot keys left: sieve ", sieve, ", lru ", lru);
  CHECK(sieve >= 190);
  CHECK(lru < 100);
}

TEST_CASE("after heavy churn, a key just written is a hit") {
  for (EvictionPolicy policy : {EvictionPolicy::sieve, EvictionPolicy::lru}) {
    CAPTURE(to_string(policy));
    ItemStore store(limits_for(policy));
    std::mt19937_64 rng(1);
    // 100,000 writes (~60x what fits), each followed by a read of a random
    // older key and a read of the key just written.
    std::uint64_t misses_on_new = 0;
    for (std::uint64_t n = 0; n < 100'000; ++n) {
      REQUIRE(put(store, n));
      store.find(key_of(rng() % (n + 1)), kNow);
      misses_on_new += store.find(key_of(n), kNow) == nullptr ? 1 : 0;
    }
    CHECK(misses_on_new == 0);
    CHECK(store.check_consistency() == "");
  }
}

TEST_CASE("after write-only churn, everything written since the cache last turned over is there") {
  for (EvictionPolicy policy : {EvictionPolicy::sieve, EvictionPolicy::lru}) {
    CAPTURE(to_string(policy));
    ItemStore store(limits_for(policy));
    for (std::uint64_t n = 0; n < 100'000; ++n) {
      REQUIRE(put(store, n));
    }
    // Unread items leave in insertion order, so the newest `items()` stay.
    const std::uint64_t kept = store.items();
    CHECK(kept > 1000);
    for (std::uint64_t n = 100'000 - kept; n < 100'000; ++n) {
      REQUIRE(store.find(key_of(n), kNow) != nullptr);
    }
    CHECK(store.find(key_of(100'000 - kept - 1), kNow) == nullptr);
  }
}

// A Zipf(alpha) sampler over ranks 0..n-1 (rank 0 most popular), by inverse
// CDF: deterministic given the seed.
class ZipfSampler {
 public:
  ZipfSampler(std::size_t n, double alpha, std::uint64_t seed) : cdf_(n), rng_(seed) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha);
      cdf_[i] = sum;
    }
    for (double& c : cdf_) {
      c /= sum;
    }
  }
  std::uint64_t next() {
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    return static_cast<std::uint64_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
  std::mt19937_64 rng_;
};

double read_through_miss_ratio(EvictionPolicy policy, double alpha) {
  // 20,000 keys, 300,000 requests; ~1,700 items fit in 256 KiB (~8%).
  ItemStore store(limits_for(policy));
  ZipfSampler zipf(20'000, alpha, 2024);
  std::uint64_t misses = 0;
  constexpr std::uint64_t kRequests = 300'000;
  for (std::uint64_t i = 0; i < kRequests; ++i) {
    const std::uint64_t n = zipf.next();
    if (store.find(key_of(n), kNow) == nullptr) {
      ++misses;
      REQUIRE(put(store, n));
    }
  }
  return static_cast<double>(misses) / static_cast<double>(kRequests);
}

TEST_CASE("SIEVE misses less than LRU on a Zipf 0.99 trace, with the same memory") {
  const double sieve = read_through_miss_ratio(EvictionPolicy::sieve, 0.99);
  const double lru = read_through_miss_ratio(EvictionPolicy::lru, 0.99);
  INFO("miss ratio: sieve ", sieve, ", lru ", lru);
  CHECK(sieve <= lru);
  MESSAGE("Zipf 0.99 miss ratio: sieve ", sieve, ", lru ", lru);
}

}  // namespace
}  // namespace discache::node

#include "key_chooser.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace discache::bench {

ZipfTable::ZipfTable(std::uint64_t keys, double alpha) : cumulative_(keys) {
  double sum = 0;
  for (std::uint64_t i = 0; i < keys; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha);
    cumulative_[i] = sum;
  }
  for (auto& c : cumulative_) {
    c /= sum;
  }
}

std::uint64_t ZipfTable::rank(double u) const {
  auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
  if (it == cumulative_.end()) {
    --it;
  }
  return static_cast<std::uint64_t>(it - cumulative_.begin());
}

KeyChooser::KeyChooser(std::uint64_t keys, const ZipfTable* zipf, std::uint64_t seed)
    : keys_(keys), multiplier_(scatter_multiplier(keys)), zipf_(zipf), rng_(seed) {}

std::uint64_t KeyChooser::next_key() {
  if (zipf_ == nullptr) {
    return rng_() % keys_;
  }
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return scatter(zipf_->rank(u), keys_, multiplier_);
}

bool KeyChooser::chance(double percent) {
  if (percent >= 100) {
    return true;
  }
  if (percent <= 0) {
    return false;
  }
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53 * 100.0 < percent;
}

std::uint64_t scatter_multiplier(std::uint64_t keys) {
  // An affine map modulo `keys` with a multiplier coprime to it is a bijection.
  std::uint64_t multiplier = 2654435761ull % keys;
  if (multiplier == 0) {
    multiplier = 1;
  }
  while (std::gcd(multiplier, keys) != 1) {
    ++multiplier;
  }
  return multiplier;
}

std::uint64_t scatter(std::uint64_t rank, std::uint64_t keys, std::uint64_t multiplier) {
  return static_cast<std::uint64_t>(
      (static_cast<unsigned __int128>(rank) * multiplier + 12345) % keys);
}

}  // namespace discache::bench

// The on-disk trace format: "DCTRACE1", a little-endian u64 count, then
// that many little-endian u64 key ids.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

namespace discache::trace {

std::expected<void, std::string> write_trace(const std::string& path,
                                             const std::vector<std::uint64_t>& ids);
std::expected<std::vector<std::uint64_t>, std::string> read_trace(const std::string& path);

}  // namespace discache::trace

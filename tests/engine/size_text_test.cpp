// --memory sizes: parsing what operators type, and printing limits back.
#include "size_text.h"

#include <doctest/doctest.h>

namespace discache::node {
namespace {

TEST_CASE("sizes parse with binary units, or as bytes") {
  CHECK(parse_size_bytes("64MiB") == 64ull << 20);
  CHECK(parse_size_bytes("64M") == 64ull << 20);
  CHECK(parse_size_bytes("2GiB") == 2ull << 30);
  CHECK(parse_size_bytes("512KiB") == 512ull << 10);
  CHECK(parse_size_bytes("1000") == 1000);
  CHECK(parse_size_bytes("1000B") == 1000);
  for (const char* bad : {"", "MiB", "64 MiB", "64mb", "64MB", "-1", "1.5GiB", "99999999999G"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_size_bytes(bad).has_value());
  }
}

TEST_CASE("sizes print in the largest whole-ish unit") {
  CHECK(format_size(32ull << 20) == "32 MiB");
  CHECK(format_size(1536ull << 20) == "1.5 GiB");
  CHECK(format_size(900) == "900 bytes");
}

}  // namespace
}  // namespace discache::node

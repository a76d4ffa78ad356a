#include "trace_file.h"

#include <bit>
#include <cstring>
#include <fstream>

namespace discache::trace {
namespace {

constexpr char kMagic[8] = {'D', 'C', 'T', 'R', 'A', 'C', 'E', '1'};
static_assert(std::endian::native == std::endian::little, "trace files are little-endian");

}  // namespace

std::expected<void, std::string> write_trace(const std::string& path,
                                             const std::vector<std::uint64_t>& ids) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const std::uint64_t count = ids.size();
  out.write(kMagic, sizeof kMagic);
  out.write(reinterpret_cast<const char*>(&count), sizeof count);
  out.write(reinterpret_cast<const char*>(ids.data()),
            static_cast<std::streamsize>(ids.size() * sizeof(std::uint64_t)));
  out.close();
  if (!out) {
    return std::unexpected("cannot write " + path);
  }
  return {};
}

std::expected<std::vector<std::uint64_t>, std::string> read_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof kMagic];
  std::uint64_t count = 0;
  if (!in.read(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof kMagic) != 0 ||
      !in.read(reinterpret_cast<char*>(&count), sizeof count)) {
    return std::unexpected(path + " is not a trace file (made by discache-trace-gen)");
  }
  // A bound on what we are willing to read, so a corrupt header cannot make
  // us allocate without limit: 1G requests.
  if (count > (std::uint64_t{1} << 30)) {
    return std::unexpected(path + ": implausible request count " + std::to_string(count));
  }
  std::vector<std::uint64_t> ids(count);
  if (!in.read(reinterpret_cast<char*>(ids.data()),
               static_cast<std::streamsize>(count * sizeof(std::uint64_t)))) {
    return std::unexpected(path + " is truncated");
  }
  return ids;
}

}  // namespace discache::trace

// Zero-copy views between std strings and Cap'n Proto Text/Data.
#pragma once

#include <capnp/blob.h>

#include <string>
#include <string_view>

namespace discache {

inline std::string_view view_of(capnp::Text::Reader text) { return {text.begin(), text.size()}; }
inline std::string_view view_of(capnp::Data::Reader data) {
  return {reinterpret_cast<const char*>(data.begin()), data.size()};
}
inline std::string to_std(capnp::Text::Reader text) { return std::string(view_of(text)); }
inline std::string to_std(capnp::Data::Reader data) { return std::string(view_of(data)); }
// The view must outlive its use; a std::string's data is NUL-terminated.
inline capnp::Text::Reader text_of(const std::string& s) { return {s.c_str(), s.size()}; }
inline capnp::Data::Reader data_of(std::string_view s) {
  return {reinterpret_cast<const capnp::byte*>(s.data()), s.size()};
}

}  // namespace discache

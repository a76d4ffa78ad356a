// A small strict JSON reader, enough to check what `discache-ctl --json`
// prints without a third-party library.
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace discache::testing {

// One parsed JSON value. Objects keep their keys in document order.
class JsonValue {
 public:
  enum class Kind { null, boolean, number, string, array, object };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::null; }
  bool is_bool() const { return kind_ == Kind::boolean; }
  bool is_number() const { return kind_ == Kind::number; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_array() const { return kind_ == Kind::array; }
  bool is_object() const { return kind_ == Kind::object; }

  // Each accessor returns a neutral value (false, 0, "", empty) on a kind mismatch,
  // so a test can assert on the kind first and on the value after.
  bool as_bool() const { return is_bool() && boolean_; }
  double as_number() const { return is_number() ? number_ : 0; }
  const std::string& as_string() const;
  // Array elements (empty for non-arrays).
  const std::vector<JsonValue>& items() const;
  // Object keys, in document order (empty for non-objects).
  const std::vector<std::string>& keys() const;

  // The member `key` of an object, or nullptr (also for non-objects).
  const JsonValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // The member `key`, or a null value when absent.
  const JsonValue& operator[](std::string_view key) const;
  std::size_t size() const { return is_object() ? keys_.size() : items_.size(); }

 private:
  friend class JsonParser;
  Kind kind_ = Kind::null;
  bool boolean_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;  // array elements, or object values aligned with keys_
  std::vector<std::string> keys_;
};

// Parses one complete JSON document (surrounding whitespace allowed). The
// error says what was expected and at which byte offset.
std::expected<JsonValue, std::string> parse_json(std::string_view text);

}  // namespace discache::testing

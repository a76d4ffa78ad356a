#include "json_value.h"

#include <charconv>
#include <cstdint>

namespace discache::testing {
namespace {

const std::string kEmptyString;
const std::vector<JsonValue> kNoItems;
const std::vector<std::string> kNoKeys;
const JsonValue kNull;

void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

}  // namespace

const std::string& JsonValue::as_string() const { return is_string() ? string_ : kEmptyString; }
const std::vector<JsonValue>& JsonValue::items() const { return is_array() ? items_ : kNoItems; }
const std::vector<std::string>& JsonValue::keys() const { return is_object() ? keys_ : kNoKeys; }

const JsonValue* JsonValue::find(std::string_view key) const {
  if (!is_object()) {
    return nullptr;
  }
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) {
      return &items_[i];
    }
  }
  return nullptr;
}

const JsonValue& JsonValue::operator[](std::string_view key) const {
  const JsonValue* found = find(key);
  return found != nullptr ? *found : kNull;
}

// Recursive descent over RFC 8259; nesting is capped so junk cannot overflow the stack.
class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  std::expected<JsonValue, std::string> document() {
    JsonValue value;
    if (!parse_value(value, 0)) {
      return std::unexpected(error_);
    }
    skip_space();
    if (pos_ != text_.size()) {
      return std::unexpected(at("end of input"));
    }
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  std::string at(std::string_view expected) const {
    return "JSON: expected " + std::string(expected) + " at byte " + std::to_string(pos_);
  }
  bool fail(std::string_view expected) {
    error_ = at(expected);
    return false;
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool eat(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) == word) {
      pos_ += word.size();
      return true;
    }
    return false;
  }

  bool parse_value(JsonValue& out, int depth) {
    if (depth > kMaxDepth) {
      return fail("less nesting");
    }
    skip_space();
    if (pos_ >= text_.size()) {
      return fail("a value");
    }
    const char c = text_[pos_];
    if (c == '{') {
      return parse_object(out, depth);
    }
    if (c == '[') {
      return parse_array(out, depth);
    }
    if (c == '"') {
      out.kind_ = JsonValue::Kind::string;
      return parse_string(out.string_);
    }
    if (literal("true") || literal("false")) {
      out.kind_ = JsonValue::Kind::boolean;
      out.boolean_ = c == 't';
      return true;
    }
    if (literal("null")) {
      out.kind_ = JsonValue::Kind::null;
      return true;
    }
    return parse_number(out);
  }

  bool parse_object(JsonValue& out, int depth) {
    out.kind_ = JsonValue::Kind::object;
    ++pos_;  // '{'
    if (eat('}')) {
      return true;
    }
    do {
      skip_space();
      std::string key;
      if (pos_ >= text_.size() || text_[pos_] != '"' || !parse_string(key)) {
        return error_.empty() ? fail("an object key") : false;
      }
      if (!eat(':')) {
        return fail("':'");
      }
      JsonValue value;
      if (!parse_value(value, depth + 1)) {
        return false;
      }
      out.keys_.push_back(std::move(key));
      out.items_.push_back(std::move(value));
    } while (eat(','));
    return eat('}') || fail("',' or '}'");
  }

  bool parse_array(JsonValue& out, int depth) {
    out.kind_ = JsonValue::Kind::array;
    ++pos_;  // '['
    if (eat(']')) {
      return true;
    }
    do {
      JsonValue value;
      if (!parse_value(value, depth + 1)) {
        return false;
      }
      out.items_.push_back(std::move(value));
    } while (eat(','));
    return eat(']') || fail("',' or ']'");
  }

  bool parse_hex4(std::uint32_t& code) {
    if (pos_ + 4 > text_.size()) {
      return fail("4 hex digits");
    }
    auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, code, 16);
    if (ec != std::errc{} || end != text_.data() + pos_ + 4) {
      return fail("4 hex digits");
    }
    pos_ += 4;
    return true;
  }

  bool parse_string(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') {
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return fail("no raw control character in a string");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) {
        break;
      }
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t code = 0;
          if (!parse_hex4(code)) {
            return false;
          }
          if (code >= 0xD800 && code < 0xDC00) {  // high surrogate: a low one must follow
            std::uint32_t low = 0;
            if (!literal("\\u") || !parse_hex4(low) || low < 0xDC00 || low > 0xDFFF) {
              return fail("a low surrogate");
            }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default: --pos_; return fail("a valid escape");
      }
    }
    return fail("a closing '\"'");
  }

  bool parse_number(JsonValue& out) {
    // Check the JSON grammar first: from_chars alone would accept "inf", "1.", ...
    const std::size_t start = pos_;
    auto digits = [&]() {
      const std::size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        ++pos_;
      }
      return pos_ > from;
    };
    if (pos_ < text_.size() && text_[pos_] == '-') {
      ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      pos_ = start;
      return fail("a value");
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) {
        return fail("digits after '.'");
      }
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      if (!digits()) {
        return fail("exponent digits");
      }
    }
    auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, out.number_);
    if (ec != std::errc{} || end != text_.data() + pos_) {
      pos_ = start;
      return fail("a representable number");
    }
    out.kind_ = JsonValue::Kind::number;
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;
};

std::expected<JsonValue, std::string> parse_json(std::string_view text) {
  return JsonParser(text).document();
}

}  // namespace discache::testing

// utf8.cpp: well-formed UTF-8 check, U+FFFD replacement and \xNN escaping, on ICU's U8_NEXT.
#include "rl/util/utf8.h"

#include <unicode/utf8.h>

#include <cstdint>

namespace reasonrl {

namespace {

// Calls on_ok(begin, end) for each well-formed character and on_bad(begin, end) for each maximal ill-formed
// subsequence of s, in order; stops early when a callback returns false. U8_NEXT reads at most 4 bytes, so it is given
// a window of 4 (ICU's offsets are int32: this also walks strings of 2 GiB and more).
template <class Ok, class Bad>
void utf8_walk(std::string_view s, Ok&& on_ok, Bad&& on_bad) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {  // ASCII
      if (!on_ok(i, i + 1)) return;
      ++i;
      continue;
    }
    int32_t k = 0;
    UChar32 c;
    U8_NEXT(p + i, k, static_cast<int32_t>(n - i < 4 ? n - i : 4), c);
    if (!(c < 0 ? on_bad(i, i + size_t(k)) : on_ok(i, i + size_t(k)))) return;
    i += size_t(k);
  }
}

}  // namespace

bool utf8_valid(std::string_view s) {
  bool ok = true;
  utf8_walk(
      s, [](size_t, size_t) { return true; },
      [&](size_t, size_t) { return ok = false; });
  return ok;
}

std::string utf8_replace_invalid(std::string_view s) {
  if (utf8_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  utf8_walk(
      s,
      [&](size_t a, size_t b) {
        out.append(s.substr(a, b - a));
        return true;
      },
      [&](size_t, size_t) {
        out += "\xEF\xBF\xBD";
        return true;
      });
  return out;
}

std::string utf8_escape_invalid(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 8);
  utf8_walk(
      s,
      [&](size_t a, size_t b) {
        if (b - a == 1 && s[a] == '\\') out += "\\\\";
        else out.append(s.substr(a, b - a));
        return true;
      },
      [&](size_t a, size_t b) {
        for (size_t k = a; k < b; ++k) {
          const auto c = static_cast<unsigned char>(s[k]);
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        }
        return true;
      });
  return out;
}

}  // namespace reasonrl

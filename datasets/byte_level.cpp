// byte_level.cpp: GPT-2's bytes_to_unicode table and its inverse.
#include "datasets/byte_level.h"

#include <vector>

#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

std::string utf8_of(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xE0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

struct Table {
  std::array<std::string, 256> fwd;
  std::array<int, 512> inv;  // code point (< 512) -> byte, or -1
  Table() {
    inv.fill(-1);
    std::array<uint32_t, 256> cp{};
    std::array<bool, 256> direct{};
    for (int b = '!'; b <= '~'; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    uint32_t n = 0;
    for (int b = 0; b < 256; ++b) cp[b] = direct[b] ? uint32_t(b) : 256 + n++;
    for (int b = 0; b < 256; ++b) {
      fwd[b] = utf8_of(cp[b]);
      inv[cp[b]] = b;
    }
  }
};
const Table& table() {
  static const Table t;
  return t;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return table().fwd[b]; }

std::string bytes_to_unicode_str(std::string_view raw) {
  const auto& t = table();
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) out += t.fwd[c];
  return out;
}

bool append_unicode_to_bytes(std::string_view s, std::string& out) {
  const auto& t = table();
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    uint32_t cp;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
      cp = ((c & 0x1F) << 6) | (uint8_t(s[i + 1]) & 0x3F);
      i += 2;
    } else {
      return false;  // every mapped character is below U+0200: one or two UTF-8 bytes
    }
    if (cp >= 512 || t.inv[cp] < 0) return false;
    out += char(t.inv[cp]);
  }
  return true;
}

std::string unicode_to_bytes_str(std::string_view mapped) {
  std::string out;
  if (!append_unicode_to_bytes(mapped, out))
    throw FormatError("byte-level decode: '" + std::string(mapped) + "' has a character outside the GPT-2 byte table");
  return out;
}

}  // namespace reasonrl::datasets

// byte_level.h: GPT-2's byte <-> printable-character table used by byte-level BPE (HF ByteLevel pre-tokenizer/decoder).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace reasonrl::datasets {

// The UTF-8 text of the printable character byte `b` maps to ("Ġ" for 0x20, "Ċ" for 0x0A, "a" for 'a').
const std::string& byte_to_unicode(uint8_t b);
// Map every byte of `raw` to its printable character.
std::string bytes_to_unicode_str(std::string_view raw);
// Inverse: a string of mapped characters back to the raw bytes. Throws FormatError on a character outside the table.
std::string unicode_to_bytes_str(std::string_view mapped);
// Append the raw bytes of `mapped` to `out`; returns false (and appends nothing more) on an unknown character.
bool append_unicode_to_bytes(std::string_view mapped, std::string& out);

}  // namespace reasonrl::datasets

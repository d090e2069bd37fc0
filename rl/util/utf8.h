// utf8.h: well-formed UTF-8 (ICU's rules: no overlong forms, surrogates or code points past U+10FFFF): the check,
// replacement of ill-formed bytes with U+FFFD, and an escaped form that shows the exact bytes.
#pragma once
#include <string>
#include <string_view>

namespace reasonrl {

// True when `s` is well-formed UTF-8.
bool utf8_valid(std::string_view s);

// `s` with each maximal ill-formed subsequence replaced by one U+FFFD (ICU's U8_NEXT; the Unicode recommended practice,
// which is also what Python's bytes.decode("utf-8", "replace") does). Well-formed input comes back unchanged.
std::string utf8_replace_invalid(std::string_view s);

// The exact bytes of `s` as readable text: well-formed UTF-8 as is, every byte of an ill-formed subsequence as \xNN
// (lower-case hex) and a backslash as \\, so the bytes can be recovered from the text unambiguously.
std::string utf8_escape_invalid(std::string_view s);

}  // namespace reasonrl

// sanitizer.h: whether this build runs under AddressSanitizer (GCC's __SANITIZE_ADDRESS__, clang's __has_feature), as
// a macro for #if (REASONRL_ASAN, 0 or 1) and a constant for code (kAddressSanitizer).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define REASONRL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REASONRL_ASAN 1
#endif
#endif
#ifndef REASONRL_ASAN
#define REASONRL_ASAN 0
#endif

namespace reasonrl {
inline constexpr bool kAddressSanitizer = REASONRL_ASAN != 0;
}  // namespace reasonrl

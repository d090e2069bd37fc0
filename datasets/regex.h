// regex.h: a compiled Oniguruma regex (UTF-8, Unicode properties such as \p{L}), the engine HF tokenizers uses.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reasonrl::datasets {

class Regex {
 public:
  // Compiles `pattern` (Oniguruma syntax, UTF-8). Throws FormatError with the engine's message on a bad pattern.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  Regex(Regex&& o) noexcept : reg_(std::exchange(o.reg_, nullptr)), pattern_(std::move(o.pattern_)) {}

  // All non-overlapping, non-empty matches in `text` as [begin, end) byte offsets, scanning left to right.
  // Lookarounds see only `text` (HF applies each split to one piece at a time). Thread-safe.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  void* reg_ = nullptr;  // OnigRegex
  std::string pattern_;
};

}  // namespace reasonrl::datasets

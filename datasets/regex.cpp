// regex.cpp: Oniguruma wrapper (compile once; search with a per-thread region).
#include "datasets/regex.h"

#include <oniguruma.h>

#include <mutex>

#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

void onig_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encs[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encs, 1);
  });
}

struct RegionHolder {
  OnigRegion* r = onig_region_new();
  ~RegionHolder() { onig_region_free(r, 1); }
};

}  // namespace

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  onig_init_once();
  OnigErrorInfo einfo;
  OnigRegex reg = nullptr;
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  const int rc = onig_new(&reg, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_ONIGURUMA, &einfo);
  if (rc != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, rc, &einfo);
    throw FormatError("bad regex '" + pattern + "': " + reinterpret_cast<const char*>(msg));
  }
  reg_ = reg;
}

Regex::~Regex() {
  if (reg_) onig_free(static_cast<OnigRegex>(reg_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  if (text.empty()) return;
  thread_local RegionHolder region;
  const auto* s = reinterpret_cast<const OnigUChar*>(text.data());
  // onig_scan walks all matches with one match context (cheaper than one onig_search per match).
  auto cb = [](int, int, OnigRegion* r, void* arg) -> int {
    auto* v = static_cast<std::vector<std::pair<size_t, size_t>>*>(arg);
    if (r->end[0] > r->beg[0]) v->emplace_back(size_t(r->beg[0]), size_t(r->end[0]));
    return 0;
  };
  const int rc = onig_scan(static_cast<OnigRegex>(reg_), s, s + text.size(), region.r, ONIG_OPTION_NONE, cb, &out);
  if (rc < 0) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, rc);
    throw FormatError("regex search failed for '" + pattern_ + "': " + reinterpret_cast<const char*>(msg));
  }
}

}  // namespace reasonrl::datasets

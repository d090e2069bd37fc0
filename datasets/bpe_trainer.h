// bpe_trainer.h: trains a small byte-level BPE vocabulary (256 bytes + merges) on a corpus, HF BpeTrainer style.
#pragma once
#include <string>
#include <vector>

#include "datasets/tokenizer.h"
#include "rl/util/config.h"

namespace reasonrl::datasets {

struct BpeTrainerConfig {
  int vocab_size = 512;     // total ids: special tokens + 256 bytes + merges
  int min_frequency = 2;    // a pair seen fewer times is never merged
  std::vector<std::string> special_tokens = {kBos, kEos, kPad, kThinkOpen, kThinkClose, kAnswerOpen, kAnswerClose};
  // Tokens among special_tokens that are marked "special" (dropped by decode(skip_special)); the tags stay visible.
  std::vector<std::string> hidden_tokens = {kBos, kEos, kPad};
  template <class V>
  void visit(V& v) {
    v("vocab_size", vocab_size, "total vocabulary size (special tokens + 256 bytes + merges)");
    v("min_frequency", min_frequency, "minimum pair count for a merge");
    v("special_tokens", special_tokens, "added tokens, given ids 0.. in this order");
    v("hidden_tokens", hidden_tokens, "added tokens flagged special (skipped by decode with skip_special)");
  }
  void validate() const;
};

// Train on `texts` with the digit-splitting pre-tokenizer (PreTokenizer::digits_split()) unless `pre` is given.
// Deterministic: the most frequent pair wins, ties go to the lexicographically smallest (left, right) token strings.
// Added tokens found in the texts are cut out before counting. Ids: special tokens, then the 256 byte tokens
// in byte order, then one id per merge.
Tokenizer train_bpe(const std::vector<std::string>& texts, const BpeTrainerConfig& cfg, const PreTokenizer* pre = nullptr);

}  // namespace reasonrl::datasets

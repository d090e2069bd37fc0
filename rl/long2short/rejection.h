// rejection.h: sampling n responses per prompt from a model, and the two selections Kimi k1.5 builds from them
// (Sec. 2.4): the shortest correct response (shortest rejection sampling -> SFT set) and DPO pairs (chosen = shortest
// correct; rejected = a wrong response longer than it, or a correct one at least 1.5x as long).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/example.h"
#include "datasets/prompt_template.h"
#include "datasets/tokenizer.h"
#include "model/model.h"
#include "rl/long2short/dpo.h"
#include "rl/util/config.h"

namespace reasonrl::long2short {

struct SamplingSetup {
  int num_samples = 8;              // n per prompt (Kimi: 8)
  int num_prompts = 256;            // training prompts sampled (the first N)
  double temperature = 1.0;
  int max_completion_length = 64;
  int max_batch = 64;
  uint64_t seed = 7;
  template <class V>
  void visit(V& v) {
    v("num_samples", num_samples, "responses sampled per prompt (Kimi: 8)");
    v("num_prompts", num_prompts, "training prompts to sample (the first N of the training split)");
    v("temperature", temperature, "sampling temperature");
    v("max_completion_length", max_completion_length, "maximum response tokens");
    v("max_batch", max_batch, "rows decoded together");
    v("seed", seed, "sampling seed");
  }
  void validate() const;
};

struct Candidate {
  std::string text;              // decoded response (special tokens dropped)
  std::vector<int32_t> tokens;   // response ids as sampled (EOS last if it stopped)
  int n_tokens = 0;
  bool correct = false;
  std::string finish_reason;
};

struct PromptSamples {
  size_t example = 0;            // index into the examples sampled from
  std::vector<int32_t> prompt;   // prompt ids
  std::vector<Candidate> samples;
};

// Samples cfg.num_samples responses to each of the first cfg.num_prompts examples and grades them with `accuracy`.
std::vector<PromptSamples> sample_responses(model::Model& m, const datasets::Tokenizer& tok,
                                            const datasets::PromptTemplate& tpl,
                                            const std::vector<datasets::Example>& examples, const SamplingSetup& cfg);

// Index of the shortest correct candidate (fewest tokens; the first such on ties), or -1 if none is correct.
int shortest_correct(const std::vector<Candidate>& c);

// DPO pairs (chosen index, rejected index) for one prompt: chosen = shortest_correct; rejected = wrong and longer than
// the chosen, or correct and at least `ratio` times its length; longest first, distinct texts, at most max_pairs.
// Empty when nothing is correct.
std::vector<std::pair<int, int>> dpo_pair_indices(const std::vector<Candidate>& c, double ratio = 1.5, int max_pairs = 2);

// Splits a response rendered by tpl.target(cot, answer) back into (cot, answer). False when it does not have that
// shape exactly (re-rendering must give the same text).
bool split_target(const datasets::PromptTemplate& tpl, const std::string& response, std::string* cot, std::string* answer);

struct ShortestSet {
  std::vector<datasets::Example> examples;  // SFT examples (generic layout): prompt, cot, answer = gold, solution
  int prompts = 0, with_correct = 0, unparsed = 0;
  int not_utf8 = 0;  // shortest correct responses left out: not valid UTF-8 (the JSONL SFT file cannot hold them)
  double mean_selected_tokens = 0, mean_sampled_tokens = 0;
};
// The shortest-rejection-sampling SFT set: one example per prompt with a correct sample; prompts with none are left out,
// and so are prompts whose shortest correct response is not valid UTF-8 (counted in not_utf8, as DPO counts its pairs).
ShortestSet build_shortest_set(const std::vector<PromptSamples>& ps, const std::vector<datasets::Example>& examples,
                               const datasets::PromptTemplate& tpl);

struct PairSet {
  std::vector<TokenPair> pairs;
  std::vector<TextPair> text;
  std::vector<json> extra;  // per pair: token counts and correctness (written next to the text)
  int prompts_with_pairs = 0;
  int skipped_not_utf8 = 0;  // pairs left out because a response is not valid UTF-8 (JSONL cannot hold it)
};
PairSet build_dpo_pairs(const std::vector<PromptSamples>& ps, const std::vector<datasets::Example>& examples,
                        double ratio, int max_pairs);

}  // namespace reasonrl::long2short

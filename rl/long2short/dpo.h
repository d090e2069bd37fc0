// dpo.h: DPO training on preference pairs (chosen / rejected responses to one prompt), with reference log-probs
// computed once before training (the reference is the starting policy), and `reasonrl dpo` on TRL-layout JSONL
// ({"prompt": ..., "chosen": ..., "rejected": ...} per line).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/prompt_template.h"
#include "datasets/tokenizer.h"
#include "model/model.h"
#include "rl/long2short/dpo_loss.h"
#include "rl/train/evaluate.h"
#include "rl/train/train_config.h"
#include "rl/util/config.h"

namespace reasonrl::long2short {

// One preference pair in token ids. chosen / rejected are response ids (EOS last when the response ended).
struct TokenPair {
  std::vector<int32_t> prompt, chosen, rejected;
  std::string source;  // "file:line" when read from a file (for errors), else empty
};

// DPO knobs (TRL DPOConfig names where they exist).
struct DpoOptions {
  double beta = 0.1;
  double label_smoothing = 0.0;
  DpoLossType loss_type = DpoLossType::Sigmoid;
  double rpo_alpha = 0.0;       // RPO: + rpo_alpha * the NLL of the chosen responses (TRL's rpo_alpha; 0 = off)
  int steps = 60;               // optimizer steps
  int batch_size = 16;          // pairs per optimizer step
  int micro_batch_size = 8;     // pairs per forward/backward (2x sequences); the gradient does not depend on it
  int max_length = 0;           // prompt + response tokens; longer pairs are skipped (0 = the model's limit)
  train::TrainKernel train_kernel = train::TrainKernel::Auto;
  uint64_t seed = 1;
  model::AdamWConfig optim = [] {
    model::AdamWConfig o;
    o.learning_rate = 1e-4;
    o.weight_decay = 0.0;
    o.min_lr_ratio = 1.0;
    return o;
  }();
  template <class V>
  void visit(V& v) {
    v("beta", beta, "DPO beta (strength of the implicit KL to the reference)");
    v("label_smoothing", label_smoothing, "conservative DPO: probability that a preference label is flipped (0 = off)");
    v("loss_type", loss_type, "sigmoid (DPO) or sigmoid_norm (log-ratios divided by response length)");
    v("rpo_alpha", rpo_alpha,
      "RPO (TRL's rpo_alpha): add this times the NLL of the chosen responses, the mean over the batch's chosen tokens, "
      "so that DPO does not lower the chosen responses' likelihood (0 = off; the RPO paper uses 1)");
    v("steps", steps, "optimizer steps");
    v("batch_size", batch_size, "preference pairs per optimizer step");
    v("micro_batch_size", micro_batch_size, "pairs per forward/backward pass");
    v("max_length", max_length,
      "skip pairs whose prompt + response exceeds this many tokens (0 = model limit; a pair longer than the model's "
      "context is an error)");
    v("train_kernel", train_kernel,
      "full: padded micro-batch, logits at every position; fused: only response positions reach the output head; "
      "packed: sequences packed without padding + fused head; auto: packed when the vocabulary has >= 32768 entries "
      "or a sequence >= 512 tokens, else full");
    v("seed", seed, "seed for shuffling pairs");
    v("optim", optim, "AdamW and LR schedule");
  }
  void validate() const;
  DpoLossParams loss_params() const { return {beta, label_smoothing, loss_type}; }
};

// Mean DPO statistics over a set of pairs.
struct DpoStats {
  double loss = 0, margin = 0, accuracy = 0;  // accuracy: fraction of pairs with margin > 0 (TRL rewards/accuracies)
  double chosen_reward = 0, rejected_reward = 0;
  double chosen_logp = 0, rejected_logp = 0;  // mean summed log-probs under the policy
  double nll = 0;  // NLL of the chosen responses: -sum logp_c / sum len_c (loss includes rpo_alpha * nll)
  int n = 0;
};

struct DpoResult {
  DpoStats final_stats;                 // over all usable pairs after training (reference = the start policy)
  std::vector<DpoStats> step_stats;     // per step, the batch's statistics before its update
  int pairs_used = 0, pairs_skipped = 0;
  double seconds = 0;
};

// Summed response log-probs (temperature 1, full softmax) of seqs = prompt + response, in micro-batches.
// Writes one value per (pair, side): out[2*i] = chosen, out[2*i+1] = rejected.
std::vector<double> pair_logps(model::Model& m, const std::vector<TokenPair>& pairs, int micro_batch_size,
                               train::TrainKernel kernel = train::TrainKernel::Auto);

// Checkpoints of a DPO run (`reasonrl dpo`): every save_every steps, and on SIGINT / SIGTERM, the loop's whole state
// (weights, optimizer, step, data order, RNG, the reference log-probs) goes to <run_dir>/checkpoints/step_N.
struct DpoCheckpointing {
  std::string run_dir;
  int save_every = 0;
  std::string tokenizer_json;  // the tokenizer.json bytes the policy came with (copied into checkpoints as they are)
  std::string resume_from;  // a checkpoint whose weights are already in the policy ("" = from the start)
  json state;               // its validated state (train::read_checkpoint_state)
};
inline constexpr const char* kDpoStateFormat = "reasonrl.dpo_state";

// Trains `policy` in place with DPO. The reference log-probs are those of `policy` before training (computed once).
// metrics_path: optional metrics.jsonl (one line per step; appended to when resuming). ck: optional checkpoints.
DpoResult train_dpo(model::Model& policy, const std::vector<TokenPair>& pairs, const DpoOptions& opt,
                    const std::string& metrics_path = "", const DpoCheckpointing* ck = nullptr);

// The statistics of `pairs` under `policy` against precomputed reference log-probs (pair_logps layout).
DpoStats dpo_stats(model::Model& policy, const std::vector<TokenPair>& pairs, const std::vector<double>& ref_logps,
                   const DpoOptions& opt);

// ---- TRL-layout preference JSONL ----
struct TextPair {
  std::string prompt, chosen, rejected;
  std::string source;  // "file:line" when read from a file (for errors), else empty
};
// Reads {"prompt","chosen","rejected"} string fields per line (other keys ignored). FormatError names file:line and key.
std::vector<TextPair> load_preference_jsonl(const std::string& path);
// Writes pairs in the same layout (plus any `extra` per line, e.g. token counts) with "version": 1.
void write_preference_jsonl(const std::string& path, const std::vector<TextPair>& pairs,
                            const std::vector<json>& extra = {});
// Prompt rendered with the template (BOS first if add_bos); responses encoded with EOS appended.
std::vector<TokenPair> tokenize_pairs(const std::vector<TextPair>& pairs, const datasets::Tokenizer& tok,
                                      const datasets::PromptTemplate& tpl);

// `reasonrl dpo`.
struct DpoConfig {
  std::string run_dir = "runs/dpo";
  int threads = 0;
  std::string init_from;   // checkpoint directory (model + tokenizer.json): the policy and the reference
  std::string train_file;  // preference JSONL (TRL layout)
  train::DataConfig data;  // the prompt template, and the held-out split for evaluation (eval.size > 0)
  train::EvalConfig eval = [] {
    train::EvalConfig e;
    e.size = 0;
    return e;
  }();
  DpoOptions dpo;
  int save_every = 0;  // checkpoint every N steps (0 = at the end only)
  template <class V>
  void visit(V& v) {
    v("run_dir", run_dir, "output directory (checkpoint/, checkpoints/, metrics.jsonl, config.json)");
    v("threads", threads, "OpenMP threads (0 = all cores)");
    v("init_from", init_from, "checkpoint (or run directory: its latest checkpoint) to start from; also the DPO reference");
    v("train_file", train_file, "preference JSONL with prompt / chosen / rejected strings (TRL layout)");
    v("data", data, "prompt template, and the held-out split for before/after evaluation");
    v("eval", eval, "greedy held-out evaluation before and after (size 0 = off)");
    v("dpo", dpo, "DPO loss and optimisation");
    v("save_every", save_every, "checkpoint every N steps for --resume (0 = at the end only)");
  }
  void validate() const;
};

struct DpoRunResult {
  std::string checkpoint;
  DpoResult dpo;
  train::EvalResult before, after;  // when eval.size > 0
};
// With resume, continues exactly from <run_dir>/checkpoints/latest; with none yet, starts over (saying so).
DpoRunResult run_dpo(const DpoConfig& cfg, bool resume = false);

}  // namespace reasonrl::long2short

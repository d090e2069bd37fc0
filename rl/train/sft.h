// sft.h: supervised fine-tuning (the warm start before RL): next-token loss on the SFT target tokens only.
#pragma once
#include <string>
#include <vector>

#include "datasets/prompt_template.h"
#include "model/model.h"
#include "rl/train/evaluate.h"
#include "rl/train/train_config.h"

namespace reasonrl::train {

struct SftResult {
  std::string checkpoint;   // directory of the final checkpoint (model, config.json, tokenizer.json)
  EvalResult initial_eval;  // before training (skipped when eval.size == 0)
  EvalResult final_eval;
  double final_loss = 0;
  double seconds = 0;
};

// Runs SFT as configured; writes <run_dir>/config.json, metrics.jsonl, evals.jsonl, checkpoint/ (the final model, with
// its optimizer and state) and, every save_every steps, checkpoints/step_N. With resume, continues exactly from the
// latest of those (weights, optimizer, schedule, data order, RNG); with none yet, starts over (saying so).
SftResult run_sft(const SftConfig& cfg, bool resume = false);

// Pads a batch of sequences to the longest: tokens (B, T) filled with `pad`, and the loss mask (B, T) that is 1 on
// target positions (index >= prompt_len and < length). Returns T.
int pad_sft_batch(const std::vector<const datasets::SftSequence*>& batch, int pad, std::vector<int32_t>& tokens,
                  std::vector<float>& mask);
// The same batch packed without padding (train_kernel packed): tokens and mask (N) back to back, cu (B + 1) the
// sequences' boundaries (cu_seqlens). Returns the longest sequence.
int pack_sft_batch(const std::vector<const datasets::SftSequence*>& batch, std::vector<int32_t>& tokens,
                   std::vector<float>& mask, std::vector<int>& cu);

// One SFT micro-batch's mean next-token loss over the target tokens, through `kernel` (never Auto): full = forward +
// next_token_loss + backward; fused / packed = only the positions whose next token is a target reach the output head
// (Model::selected_logprobs). Accumulates the gradients into m. Returns the loss; *processed = token rows the model
// ran (B x T padded, N packed).
double sft_loss_and_grad(model::Model& m, const std::vector<const datasets::SftSequence*>& batch, int pad,
                         TrainKernel kernel, size_t* processed = nullptr);

}  // namespace reasonrl::train

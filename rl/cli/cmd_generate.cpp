// cmd_generate.cpp: `reasonrl generate --checkpoint DIR --prompt "..." [--samples G]`: samples completions from a
// checkpoint with the rollout engine and streams their tokens to the terminal.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "datasets/prompt_template.h"
#include "datasets/tokenizer.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "policy/model_decoder.h"
#include "policy/rollout.h"
#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/train/checkpoint_state.h"
#include "rl/util/error.h"
#include "rl/util/log.h"

namespace reasonrl::cli {

namespace {

struct GenerateArgs {
  std::string checkpoint, prompt, templ = "plain";
  int samples = 1;
  int max_tokens = 0;  // 0 = the config's max_completion_length
  bool no_bos = false;
  bool no_verify = false;
};

// Streams sample `focus` live; the others are held back and printed, in order, when the one before them finishes.
class Streamer {
 public:
  Streamer(const datasets::Tokenizer& tok, int n) : tok_(tok), text_(size_t(n)), done_(size_t(n), false), n_(n) {
    header(0);
  }
  void on_token(const policy::Trajectory& t, int32_t id) {
    std::string piece = tok_.is_special(id) && id == tok_.eos_id() ? "" : tok_.token_bytes(id);
    if (t.group_index == focus_) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    } else {
      text_[size_t(t.group_index)] += piece;
    }
  }
  void on_finished(int k) {
    done_[size_t(k)] = true;
    while (focus_ < n_ && done_[size_t(focus_)]) {
      std::fputs("\n", stdout);
      if (++focus_ < n_) {
        header(focus_);
        std::fputs(text_[size_t(focus_)].c_str(), stdout);
        std::fflush(stdout);
      }
    }
  }

 private:
  void header(int k) {
    if (n_ > 1) std::fputs(fmt::format("=== sample {} ===\n", k).c_str(), stdout);
  }
  const datasets::Tokenizer& tok_;
  std::vector<std::string> text_;
  std::vector<bool> done_;
  int n_, focus_ = 0;
};

void run_generate(const GenerateArgs& a, policy::RolloutConfig rc) {
  if (a.checkpoint.empty()) throw ConfigError("generate: --checkpoint DIR is required");
  if (a.samples < 1) throw ConfigError("generate: --samples must be >= 1");
  model::set_verify_checkpoints(!a.no_verify);
  const auto tok = datasets::Tokenizer::load(a.checkpoint + "/tokenizer.json");
  train::verify_checkpoint_dir(a.checkpoint);  // its files' checksums, and that this is its tokenizer
  auto model = model::load_model(a.checkpoint);
  if (tok.vocab_size() > model->config().vocab_size)
    throw FormatError(a.checkpoint + ": tokenizer.json has " + std::to_string(tok.vocab_size()) +
                      " ids but the model's vocab_size is " + std::to_string(model->config().vocab_size));

  // Prompt ids: the template's prompt text, BOS first.
  std::string text = a.prompt;
  if (a.templ != "raw") {
    datasets::TemplateConfig tc;
    tc.kind = enum_from_string<datasets::TemplateKind>(a.templ, "--template");
    text = datasets::PromptTemplate(tc).prompt(a.prompt);
  }
  std::vector<int32_t> ids;
  if (!a.no_bos && tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  for (int id : tok.encode(text)) ids.push_back(id);

  rc.num_generations = a.samples;
  rc.max_batch = std::min(a.samples, 64);
  if (a.max_tokens > 0) rc.max_completion_length = a.max_tokens;
  if (rc.stop_token_ids.empty() && tok.eos_id() >= 0) rc.stop_token_ids = {tok.eos_id()};
  rc.partial_rollout = false;
  const int max_len = model->config().max_position_embeddings;
  if (int(ids.size()) >= max_len)
    throw CapacityError("generate: the prompt has " + std::to_string(ids.size()) + " tokens; the model accepts " +
                        std::to_string(max_len));
  rc.max_completion_length = std::min(rc.max_completion_length, max_len - int(ids.size()));
  rc.validate();

  policy::RolloutEngine engine(rc);
  policy::ModelDecoder dec(*model, engine.slots_needed(), int(ids.size()) + rc.max_completion_length);
  Streamer out(tok, a.samples);
  engine.set_token_callback([&](const policy::Trajectory& t, int32_t id) {
    out.on_token(t, id);
    if (t.finished) out.on_finished(t.group_index);
  });
  const auto r = engine.generate(dec, {policy::Prompt{0, ids}}, 0);

  const auto& s = r.stats;
  for (const auto& t : r.trajectories) {
    double lp = 0;
    for (float x : t.logp) lp += x;
    std::fprintf(stderr, "sample %d: %d tokens, finish %s, mean logp %.3f\n", t.group_index, t.length(),
                 enum_to_string(t.finish), t.length() ? lp / t.length() : 0.0);
  }
  std::fprintf(stderr, "prompt %zu tokens; %lld tokens generated in %.2f s (%.1f tok/s decode, batch <= %lld)\n",
               ids.size(), (long long)s.tokens_generated, s.seconds,
               s.decode_seconds > 0 ? double(s.rows_computed) / s.decode_seconds : 0.0, (long long)s.max_rows);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto* sub = app.add_subcommand("generate", "sample completions from a checkpoint and stream them to the terminal");
  auto a = std::make_shared<GenerateArgs>();
  policy::RolloutConfig defaults;
  defaults.num_generations = 1;
  defaults.sampling_params.temperature = 0.7;
  defaults.sampling_params.top_p = 0.95;
  auto cli = std::make_shared<ConfigCli<policy::RolloutConfig>>(sub, defaults, "Sampling");
  sub->add_option("--checkpoint", a->checkpoint, "checkpoint directory (model.safetensors, config.json, tokenizer.json)")
      ->required();
  sub->add_option("--prompt", a->prompt, "the question / prompt text")->required();
  sub->add_option("--samples", a->samples, "number of samples (G), decoded together")->default_val(1);
  sub->add_option("--max-tokens", a->max_tokens, "response tokens per sample (default: --max_completion_length)");
  sub->add_option("--template", a->templ, "prompt template: plain, r1 or raw (the text as is)")->default_val("plain");
  sub->add_flag("--no-bos", a->no_bos, "do not prepend the BOS token");
  sub->add_flag("--no-verify", a->no_verify, "do not check the checkpoint files' SHA-256 (faster)");
  sub->callback([a, cli] { run_generate(*a, cli->resolve()); });
}

}  // namespace reasonrl::cli

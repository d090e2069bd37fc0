// cmd_tokenizer.cpp: `reasonrl tokenizer train|encode|decode`: train a small byte-level BPE on synthetic tasks and/or
// JSONL datasets, write tokenizer.json, and encode/decode text with any tokenizer.json (ours or DeepSeek-V3's).
#include <iostream>
#include <memory>
#include <sstream>

#include "datasets/bpe_trainer.h"
#include "datasets/jsonl_loader.h"
#include "datasets/prompt_template.h"
#include "datasets/synthetic.h"
#include "datasets/tokenizer.h"
#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/util/error.h"
#include "rl/util/log.h"

namespace reasonrl::cli {

void add_tokenizer_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenizer", "train a byte-level BPE tokenizer (tokenizer.json), or encode/decode with one");
  cmd->require_subcommand(1);

  // ---- train ----
  struct TrainOpts {
    std::string out;
    std::vector<std::string> tasks = {"arithmetic", "arithmetic_zh", "countdown"};
    int n_per_task = 5000;
    uint64_t seed = 1;
    std::vector<std::string> jsonl;
    std::string layout = "generic";
    std::string tpl = "plain";
  };
  auto to = std::make_shared<TrainOpts>();
  auto* train = cmd->add_subcommand("train", "train on synthetic tasks (prompt + SFT target text) and/or JSONL files");
  auto tcfg = std::make_shared<ConfigCli<datasets::BpeTrainerConfig>>(train, "Tokenizer");
  train->add_option("-o,--out", to->out, "tokenizer.json to write")->required();
  train->add_option("--tasks", to->tasks, "synthetic tasks to draw training text from (empty: none)")->delimiter(',');
  train->add_option("--n-per-task", to->n_per_task, "examples per synthetic task");
  train->add_option("--seed", to->seed, "seed of the synthetic examples");
  train->add_option("--jsonl", to->jsonl, "JSONL datasets to add (prompt, chain of thought and answer text)")->delimiter(',');
  train->add_option("--layout", to->layout, "layout of the --jsonl files: " + enum_valid_list<datasets::Layout>());
  train->add_option("--template", to->tpl, "template used to render examples: " + enum_valid_list<datasets::TemplateKind>());
  train->callback([to, tcfg] {
    const auto cfg = tcfg->resolve();
    datasets::TemplateConfig tc;
    tc.kind = enum_from_string<datasets::TemplateKind>(to->tpl, "--template");
    const datasets::PromptTemplate tpl(tc);
    std::vector<std::string> texts;
    auto add = [&](const datasets::Example& e) { texts.push_back(tpl.prompt(e) + tpl.target(e)); };
    for (const auto& t : to->tasks) {
      if (t.empty()) continue;
      datasets::SyntheticConfig sc;
      sc.task = enum_from_string<datasets::SyntheticKind>(t, "--tasks");
      for (const auto& e : datasets::SyntheticTask(sc).generate(datasets::Split::Train, to->n_per_task, to->seed)) add(e);
    }
    datasets::DatasetConfig dc;
    dc.layout = enum_from_string<datasets::Layout>(to->layout, "--layout");
    for (const auto& f : to->jsonl)
      for (const auto& e : datasets::load_jsonl(f, dc)) add(e);
    if (texts.empty()) throw ConfigError("tokenizer train: no training text (give --tasks and/or --jsonl)");
    const double t0 = now_seconds();
    const auto tok = datasets::train_bpe(texts, cfg);
    tok.save(to->out);
    size_t bytes = 0, tokens = 0;
    for (const auto& s : texts) {
      bytes += s.size();
      tokens += tok.encode(s).size();
    }
    std::cout << "wrote " << to->out << ": vocab " << tok.vocab_size() << " (" << tok.n_merges() << " merges), trained on "
              << texts.size() << " texts in " << fmt::format("{:.2f}", now_seconds() - t0) << " s; "
              << fmt::format("{:.2f}", double(bytes) / double(tokens)) << " bytes/token on the training text\n";
  });

  // ---- encode ----
  struct EncOpts {
    std::string tokenizer, text;
    bool tokens = false;
  };
  auto eo = std::make_shared<EncOpts>();
  auto* enc = cmd->add_subcommand("encode", "print the token ids of a text");
  enc->add_option("-t,--tokenizer", eo->tokenizer, "tokenizer.json")->required();
  enc->add_option("text", eo->text, "text to encode (reads stdin if omitted)");
  enc->add_flag("--tokens", eo->tokens, "also print each token's text");
  enc->callback([eo] {
    const auto tok = datasets::Tokenizer::load(eo->tokenizer);
    std::string text = eo->text;
    if (text.empty()) {
      std::stringstream ss;
      ss << std::cin.rdbuf();
      text = ss.str();
    }
    const auto ids = tok.encode(text);
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
    if (eo->tokens)
      for (int id : ids) std::cout << id << "\t" << nlohmann::json(tok.token_bytes(id)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    std::cerr << ids.size() << " tokens, " << text.size() << " bytes\n";
  });

  // ---- decode ----
  struct DecOpts {
    std::string tokenizer;
    std::vector<int> ids;
    bool skip_special = false;
  };
  auto dopt = std::make_shared<DecOpts>();
  auto* dec = cmd->add_subcommand("decode", "print the text of token ids");
  dec->add_option("-t,--tokenizer", dopt->tokenizer, "tokenizer.json")->required();
  dec->add_option("ids", dopt->ids, "token ids")->required();
  dec->add_flag("--skip-special", dopt->skip_special, "drop special tokens (BOS, EOS, pad)");
  dec->callback([dopt] {
    const auto tok = datasets::Tokenizer::load(dopt->tokenizer);
    std::cout << tok.decode(dopt->ids, dopt->skip_special) << "\n";
  });
}

}  // namespace reasonrl::cli

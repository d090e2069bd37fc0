// cmd_export.cpp: `reasonrl export`: a checkpoint as a GGUF file for llama.cpp (--format gguf, deepseek2 architecture)
// or as a Hugging Face model directory (--format hf).
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "datasets/prompt_template.h"
#include "model/gguf_export.h"
#include "model/hf_checkpoint.h"
#include "model/model.h"
#include "rl/cli/commands.h"
#include "rl/util/error.h"

namespace reasonrl::cli {

namespace {
struct ExportArgs {
  std::string checkpoint, out, format, dtype, tokenizer, name = "reasonrl";
  int shard_mb = 0;
};

// The R1 prompt (datasets::PromptTemplate kind r1) as a Jinja chat template for HF's tokenizer_config.json.
std::string r1_chat_template() {
  return std::string("{{ bos_token }}") + datasets::kR1Instruction +
         "{% for message in messages %}{% if message['role'] == 'user' %} User: {{ message['content'] }}\n"
         "{% elif message['role'] == 'assistant' %}Assistant: {{ message['content'] }}{{ eos_token }}{% endif %}"
         "{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}";
}

void run_export(const ExportArgs& a) {
  const std::string tok = a.tokenizer.empty() ? a.checkpoint + "/tokenizer.json" : a.tokenizer;
  if (a.format == "gguf") {
    model::GgmlType t;
    if (a.dtype == "f32") t = model::GgmlType::F32;
    else if (a.dtype == "f16") t = model::GgmlType::F16;
    else if (a.dtype == "q8_0") t = model::GgmlType::Q8_0;
    else throw ConfigError("export: --dtype '" + a.dtype + "' is not supported for gguf; valid: f32, f16, q8_0");
    if (!std::filesystem::exists(tok))
      throw IoError("export: tokenizer " + tok + " does not exist (GGUF carries the tokenizer; pass --tokenizer)");
    const auto m = model::load_model(a.checkpoint);
    const auto r = model::export_gguf(*m, tok, a.out, t, a.name);
    fmt::print("wrote {} ({} tensors, {} weights, deepseek2, {} bytes)\n", a.out, r.n_tensors, a.dtype,
               std::filesystem::file_size(a.out));
    for (const auto& n : r.notes) fmt::print("note: {}\n", n);
  } else if (a.format == "hf") {
    model::HfDtype t;
    if (a.dtype == "f32") t = model::HfDtype::F32;
    else if (a.dtype == "bf16") t = model::HfDtype::BF16;
    else throw ConfigError("export: --dtype '" + a.dtype + "' is not supported for hf; valid: f32, bf16");
    // the checkpoint's own tokenizer is optional for hf; one named by --tokenizer is not
    if (!a.tokenizer.empty() && !std::filesystem::exists(tok))
      throw IoError("export: tokenizer " + tok + " (--tokenizer) does not exist");
    const auto m = model::load_model(a.checkpoint);
    model::HfExportOptions o;
    o.dtype = t;
    o.max_shard_bytes = size_t(a.shard_mb) * 1000 * 1000;
    o.tokenizer_json = std::filesystem::exists(tok) ? tok : "";
    o.chat_template = r1_chat_template();
    o.source_config = a.checkpoint + "/config.json";
    const auto r = model::export_hf(*m, a.out, o);
    fmt::print("wrote {} ({} tensors in {} shard(s), {})\n", a.out, r.n_tensors, r.n_shards, a.dtype);
    for (const auto& n : r.notes) fmt::print("note: {}\n", n);
  } else {
    throw ConfigError("export: --format '" + a.format + "' is not supported; valid: gguf, hf");
  }
}
}  // namespace

void add_export_command(CLI::App& app) {
  auto* sub = app.add_subcommand("export", "write a checkpoint as GGUF (llama.cpp deepseek2) or as a Hugging Face directory");
  auto a = std::make_shared<ExportArgs>();
  sub->add_option("--checkpoint", a->checkpoint, "checkpoint directory (ours or Hugging Face)")->required();
  sub->add_option("-o,--out", a->out, "output: a .gguf file (gguf) or a directory (hf)")->required();
  sub->add_option("--format", a->format, "gguf or hf")->required();
  sub->add_option("--dtype", a->dtype, "weights: f32|f16|q8_0 (gguf), f32|bf16 (hf)")->required();
  sub->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: <checkpoint>/tokenizer.json)");
  sub->add_option("--name", a->name, "model name written into the file (gguf general.name)");
  sub->add_option("--shard-mb", a->shard_mb, "hf: split the weights into shards of at most this many MB (0 = one file)");
  sub->callback([a] { run_export(*a); });
}

}  // namespace reasonrl::cli

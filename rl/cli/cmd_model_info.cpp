// cmd_model_info.cpp: `reasonrl model-info`: parameter counts (total and active, per component) and KV-cache bytes
// per token of a model config or checkpoint.
#include <fmt/format.h>

#include <map>
#include <memory>

#include "model/model.h"
#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"

namespace reasonrl::cli {

namespace {
// Component of a tensor, from its HF name.
std::string component_of(const std::string& name, int n_layers) {
  if (name == "model.embed_tokens.weight") return "embedding";
  if (name == "lm_head.weight") return "lm_head";
  if (name == "model.norm.weight") return "norms";
  const std::string mtp = "model.layers." + std::to_string(n_layers) + ".";
  if (name.rfind(mtp, 0) == 0) return "mtp_module";
  if (name.find(".self_attn.") != std::string::npos) return "attention (MLA)";
  if (name.find("layernorm") != std::string::npos) return "norms";
  if (name.find(".mlp.experts.") != std::string::npos) return "routed_experts";
  if (name.find(".mlp.shared_experts.") != std::string::npos) return "shared_experts";
  if (name.find(".mlp.gate.") != std::string::npos) return "router (+bias)";
  if (name.find(".mlp.") != std::string::npos) return "dense_ffn";
  return "other";
}
}  // namespace

void add_model_info_command(CLI::App& app) {
  auto* sub = app.add_subcommand("model-info", "parameter counts (total / active, per component) and KV bytes per token");
  auto cli = std::make_shared<ConfigCli<model::ModelConfig>>(sub, "Model config");
  auto ckpt = std::make_shared<std::string>();
  sub->add_option("--checkpoint", *ckpt, "checkpoint directory (reads its config.json instead of --config)");
  sub->callback([cli, ckpt] {
    const model::ModelConfig cfg = ckpt->empty() ? cli->resolve() : model::load_model_config(*ckpt + "/config.json");
    size_t active = 0;
    const auto layout = model::tensor_layout(cfg, &active);
    std::map<std::string, size_t> per;
    size_t total = 0;
    for (const auto& t : layout) {
      per[component_of(t.name, cfg.num_hidden_layers)] += t.size;
      total += t.size;
    }
    fmt::print("model: {} layers ({} dense + {} MoE), d={}, heads={}, experts {} routed (top-{}) + {} shared, MTP depth {}\n",
               cfg.num_hidden_layers, std::min(cfg.first_k_dense_replace, cfg.num_hidden_layers),
               std::max(0, cfg.num_hidden_layers - cfg.first_k_dense_replace), cfg.hidden_size,
               cfg.num_attention_heads, cfg.n_routed_experts, cfg.num_experts_per_tok, cfg.n_shared_experts,
               cfg.num_nextn_predict_layers);
    fmt::print("{:<20} {:>14} {:>8}\n", "component", "params", "share");
    for (const auto& [k, v] : per) fmt::print("{:<20} {:>14} {:>7.2f}%\n", k, v, 100.0 * double(v) / double(total));
    fmt::print("{:<20} {:>14}\n", "total", total);
    fmt::print("{:<20} {:>14}   (per token, main model: all but the unselected routed experts and MTP)\n",
               "active", active);
    const size_t kv = cfg.kv_bytes_per_token();
    fmt::print("KV cache: {} bytes per token (fp32; {} layers x (kv_lora_rank {} + qk_rope_head_dim {}))\n", kv,
               cfg.num_hidden_layers, cfg.kv_lora_rank, cfg.qk_rope_head_dim);
    fmt::print("  an expanded K/V cache would need {} bytes per token\n",
               sizeof(float) * size_t(cfg.num_hidden_layers) * cfg.num_attention_heads *
                   size_t(cfg.q_head_dim() + cfg.v_head_dim));
  });
}

}  // namespace reasonrl::cli

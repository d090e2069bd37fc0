// gguf_export.cpp: HF DeepSeek-V3 tensor names -> llama.cpp deepseek2 names, shapes and metadata (as llama.cpp's own
// convert_hf_to_gguf.py DeepseekV2Model writes them), plus the tokenizer.
#include "model/gguf_export.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "model/hf_json.h"
#include "rl/util/config.h"
#include "rl/util/error.h"

namespace reasonrl::model {

namespace {
using njson = nlohmann::json;

// ggml ne of a PyTorch shape (reversed).
std::vector<int64_t> ne_of(std::vector<int64_t> shape) {
  std::reverse(shape.begin(), shape.end());
  return shape;
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  std::string pre;
  int bos = -1, eos = -1, pad = -1;
};

// DeepSeek-V3's pre-tokenizer (three Split regexes then ByteLevel) is llama.cpp's "deepseek-v3".
std::string pre_name(const njson& pre, std::vector<std::string>& notes) {
  std::vector<std::string> pats;
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers"))
    for (const auto& p : pre["pretokenizers"])
      if (p.value("type", "") == "Split" && p.contains("pattern") && p["pattern"].contains("Regex"))
        pats.push_back(p["pattern"]["Regex"].get<std::string>());
  if (pats.size() == 3 && pats[0] == R"(\p{N}{1,3})") return "deepseek-v3";
  notes.push_back("the tokenizer's pre-tokenizer has no llama.cpp name: written as \"default\"; llama.cpp may split "
                  "text differently (token ids given to it are unaffected)");
  return "default";
}

Vocab read_vocab(const std::string& path, int vocab_size, std::vector<std::string>& notes) {
  const njson j = read_json_file(path);
  if (!j.contains("model") || !j["model"].is_object() || j["model"].value("type", "") != "BPE" ||
      !j["model"].contains("vocab") || !j["model"]["vocab"].is_object())
    throw FormatError(path + ": expected a tokenizer.json with a BPE model (model.type \"BPE\", model.vocab)");
  Vocab v;
  v.tokens.assign(size_t(vocab_size), "");
  v.types.assign(size_t(vocab_size), 0);
  // An id is checked before it is narrowed: get<int>() would wrap 2^32 + 5 to 5 and overwrite another token.
  auto set = [&](const njson& idj, const std::string& s, int type) -> int {
    if (!json_int_in(idj, 0, int64_t(vocab_size) - 1))
      throw FormatError(path + ": token '" + s + "' has id " + idj.dump() + ", not an integer in [0, vocab_size " +
                        std::to_string(vocab_size) + ")");
    const int id = int(idj.get<int64_t>());
    v.tokens[size_t(id)] = s;
    v.types[size_t(id)] = type;
    return id;
  };
  for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) set(it.value(), it.key(), 1);
  if (j.contains("added_tokens"))
    for (const auto& a : j["added_tokens"]) {
      const std::string c = a.value("content", "");
      const int id = set(a.contains("id") ? a["id"] : njson(-1), c, a.value("special", true) ? 3 : 4);  // CONTROL / USER_DEFINED
      switch (special_token_role(c)) {
        case SpecialToken::Bos: v.bos = id; break;
        case SpecialToken::Eos: v.eos = id; break;
        case SpecialToken::Pad: v.pad = id; break;
        case SpecialToken::None: break;
      }
    }
  int unused = 0;
  for (int i = 0; i < vocab_size; ++i)
    if (v.types[size_t(i)] == 0) {
      v.tokens[size_t(i)] = "[PAD" + std::to_string(i) + "]";
      v.types[size_t(i)] = 5;  // UNUSED
      ++unused;
    }
  if (unused) notes.push_back(std::to_string(unused) + " ids without a token written as unused [PAD<id>]");
  if (j["model"].contains("merges"))
    for (const auto& m : j["model"]["merges"]) {
      if (m.is_string()) {
        v.merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2) {
        const std::string a = m[0].get<std::string>(), b = m[1].get<std::string>();
        if (a.find(' ') != std::string::npos || b.find(' ') != std::string::npos)
          throw FormatError(path + ": merge '" + a + "' + '" + b + "' contains a space, which GGUF merges cannot hold");
        v.merges.push_back(a + " " + b);
      }
    }
  v.pre = pre_name(j.value("pre_tokenizer", njson()), notes);
  return v;
}
}  // namespace

GgufExportResult export_gguf(const Model& model, const std::string& tokenizer_json, const std::string& out_path,
                             GgmlType wtype, const std::string& name) {
  const ModelConfig& c = model.config();
  GgufExportResult res;
  const int H = c.num_attention_heads, Dn = c.qk_nope_head_dim, Dv = c.v_head_dim, C = c.kv_lora_rank,
            Dr = c.qk_rope_head_dim, L = c.num_hidden_layers;
  // llama.cpp aborts (GGML_ASSERT) on these, so refuse them here.
  int groups = c.n_group, groups_used = c.topk_group;
  if (groups > 1 && groups_used == groups) groups = groups_used = 0;  // every group kept = no group limit
  if (groups > 1 && groups >= c.n_routed_experts)
    throw ConfigError("gguf export: llama.cpp needs n_group < n_routed_experts (n_group " + std::to_string(c.n_group) + ")");
  // llama.cpp's deepseek2 loader takes 26- and 27-layer models for V2-Lite-like ones and never reads q_lora_rank.
  if (c.q_lora_rank > 0 && (L == 26 || L == 27 || (L == 48 && c.vocab_size == 128256)))
    throw ConfigError("gguf export: llama.cpp reads a " + std::to_string(L) + "-layer deepseek2 model as a 'lite' one " +
                      "without q_lora_rank, so this low-rank-query model would not load there");
  if (c.first_k_dense_replace < L && c.n_shared_experts == 0)
    throw ConfigError("gguf export: llama.cpp's deepseek2 needs n_shared_experts > 0 in MoE layers");

  GgufWriter w;
  const std::string a = "deepseek2.";
  w.add_string("general.architecture", "deepseek2");
  w.add_string("general.name", name);
  w.add_u32("general.file_type", wtype == GgmlType::F32 ? 0 : wtype == GgmlType::F16 ? 1 : 7);
  w.add_u32("general.quantization_version", 2);
  w.add_u32(a + "block_count", uint32_t(L));
  w.add_u32(a + "context_length", uint32_t(c.max_position_embeddings));
  w.add_u32(a + "embedding_length", uint32_t(c.hidden_size));
  w.add_u32(a + "feed_forward_length", uint32_t(c.intermediate_size));
  w.add_u32(a + "attention.head_count", uint32_t(H));
  w.add_u32(a + "attention.head_count_kv", 1);  // MLA runs as MQA over the latent
  w.add_f32(a + "rope.freq_base", float(c.rope_theta));
  w.add_f32(a + "attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
  w.add_u32(a + "expert_count", uint32_t(c.n_routed_experts));
  w.add_u32(a + "expert_used_count", uint32_t(c.num_experts_per_tok));
  if (groups > 1) {
    w.add_u32(a + "expert_group_count", uint32_t(groups));
    w.add_u32(a + "expert_group_used_count", uint32_t(groups_used));
  }
  w.add_u32(a + "expert_gating_func", 2);  // LLAMA_EXPERT_GATING_FUNC_TYPE_SIGMOID
  w.add_u32(a + "leading_dense_block_count", uint32_t(c.first_k_dense_replace));
  w.add_u32(a + "vocab_size", uint32_t(c.vocab_size));
  if (c.q_lora_rank > 0) w.add_u32(a + "attention.q_lora_rank", uint32_t(c.q_lora_rank));
  w.add_u32(a + "attention.kv_lora_rank", uint32_t(C));
  w.add_u32(a + "attention.key_length", uint32_t(C + Dr));
  w.add_u32(a + "attention.value_length", uint32_t(C));
  w.add_u32(a + "attention.key_length_mla", uint32_t(Dn + Dr));
  w.add_u32(a + "attention.value_length_mla", uint32_t(Dv));
  w.add_u32(a + "expert_feed_forward_length", uint32_t(c.moe_intermediate_size));
  w.add_u32(a + "expert_shared_count", uint32_t(c.n_shared_experts));
  w.add_f32(a + "expert_weights_scale", float(c.routed_scaling_factor));
  w.add_bool(a + "expert_weights_norm", c.norm_topk_prob);
  w.add_u32(a + "rope.dimension_count", uint32_t(Dr));
  if (c.rope_scaling.type == RopeScalingType::Yarn) {
    const RopeScaling& y = c.rope_scaling;
    if (y.mscale_all_dim != 0 && y.mscale != y.mscale_all_dim)
      throw ConfigError("gguf export: llama.cpp's deepseek2 YaRN assumes rope_scaling.mscale == mscale_all_dim (got " +
                        std::to_string(y.mscale) + " and " + std::to_string(y.mscale_all_dim) + ")");
    w.add_string(a + "rope.scaling.type", "yarn");
    w.add_f32(a + "rope.scaling.factor", float(y.factor));
    w.add_u32(a + "rope.scaling.original_context_length", uint32_t(y.original_max_position_embeddings));
    w.add_f32(a + "rope.scaling.yarn_beta_fast", float(y.beta_fast));
    w.add_f32(a + "rope.scaling.yarn_beta_slow", float(y.beta_slow));
    w.add_f32(a + "rope.scaling.yarn_log_multiplier", float(0.1 * y.mscale_all_dim));  // as convert_hf_to_gguf.py
  }
  if (c.num_nextn_predict_layers > 0)
    res.notes.push_back("the MTP module (num_nextn_predict_layers " + std::to_string(c.num_nextn_predict_layers) +
                        ") is not exported: llama.cpp's deepseek2 graph does not use it");

  const Vocab v = read_vocab(tokenizer_json, c.vocab_size, res.notes);
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", v.pre);
  w.add_strings("tokenizer.ggml.tokens", v.tokens);
  w.add_i32s("tokenizer.ggml.token_type", v.types);
  w.add_strings("tokenizer.ggml.merges", v.merges);
  if (v.bos >= 0) w.add_u32("tokenizer.ggml.bos_token_id", uint32_t(v.bos));
  if (v.eos >= 0) w.add_u32("tokenizer.ggml.eos_token_id", uint32_t(v.eos));
  if (v.pad >= 0) w.add_u32("tokenizer.ggml.padding_token_id", uint32_t(v.pad));
  w.add_bool("tokenizer.ggml.add_bos_token", false);

  const float* P = model.params().data();
  int fallback = 0;
  auto emit = [&](const std::string& gname, const std::vector<int64_t>& ne, const float* x, bool keep_f32) {
    size_t n = 1;
    for (auto d : ne) n *= size_t(d);
    GgmlType t = (keep_f32 || ne.size() < 2) ? GgmlType::F32 : wtype;
    if (t == GgmlType::Q8_0 && ne[0] % 32 != 0) {
      t = GgmlType::F32;
      ++fallback;
    }
    w.add_tensor(gname, ne, t, ggml_encode(x, n, t));
  };
  auto tensor = [&](const std::string& hf) -> const TensorInfo& { return model.tensor(hf); };
  auto plain = [&](const std::string& hf, const std::string& gname, bool keep_f32 = false) {
    const TensorInfo& t = tensor(hf);
    emit(gname, ne_of(t.shape), P + t.offset, keep_f32);
  };
  plain("model.embed_tokens.weight", "token_embd.weight");
  plain("model.norm.weight", "output_norm.weight");
  plain("lm_head.weight", "output.weight");
  for (int l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".", b = "blk." + std::to_string(l) + ".";
    plain(p + "input_layernorm.weight", b + "attn_norm.weight");
    plain(p + "post_attention_layernorm.weight", b + "ffn_norm.weight");
    if (c.q_lora_rank > 0) {
      plain(p + "self_attn.q_a_proj.weight", b + "attn_q_a.weight");
      plain(p + "self_attn.q_a_layernorm.weight", b + "attn_q_a_norm.weight");
      plain(p + "self_attn.q_b_proj.weight", b + "attn_q_b.weight");
    } else {
      plain(p + "self_attn.q_proj.weight", b + "attn_q.weight");
    }
    plain(p + "self_attn.kv_a_proj_with_mqa.weight", b + "attn_kv_a_mqa.weight");
    plain(p + "self_attn.kv_a_layernorm.weight", b + "attn_kv_a_norm.weight");
    {
      // kv_b_proj (H*(Dn+Dv), C): per head rows [k_nope (Dn) | v (Dv)].  k_b = k_nope^T per head: torch (H, C, Dn),
      // ggml ne {Dn, C, H}; v_b: torch (H, Dv, C), ggml ne {C, Dv, H}.
      const float* kvb = P + tensor(p + "self_attn.kv_b_proj.weight").offset;
      std::vector<float> kb(size_t(H) * C * Dn), vb(size_t(H) * Dv * C);
      for (int h = 0; h < H; ++h) {
        const float* rows = kvb + size_t(h) * (Dn + Dv) * C;
        for (int d = 0; d < Dn; ++d)
          for (int cc = 0; cc < C; ++cc) kb[(size_t(h) * C + cc) * Dn + d] = rows[size_t(d) * C + cc];
        std::copy(rows + size_t(Dn) * C, rows + size_t(Dn + Dv) * C, vb.begin() + long(size_t(h) * Dv * C));
      }
      emit(b + "attn_k_b.weight", {Dn, C, H}, kb.data(), false);
      emit(b + "attn_v_b.weight", {C, Dv, H}, vb.data(), false);
    }
    plain(p + "self_attn.o_proj.weight", b + "attn_output.weight");
    if (!c.is_moe_layer(l)) {
      plain(p + "mlp.gate_proj.weight", b + "ffn_gate.weight");
      plain(p + "mlp.up_proj.weight", b + "ffn_up.weight");
      plain(p + "mlp.down_proj.weight", b + "ffn_down.weight");
      continue;
    }
    plain(p + "mlp.gate.weight", b + "ffn_gate_inp.weight", true);
    plain(p + "mlp.gate.e_score_correction_bias", b + "exp_probs_b.bias", true);
    const int E = c.n_routed_experts, F = c.moe_intermediate_size, D = c.hidden_size;
    for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
      const bool down = std::string(proj) == "down_proj";
      std::vector<float> st(size_t(E) * F * D);  // torch (E, F, D) or (E, D, F) for down
      for (int e = 0; e < E; ++e) {
        const TensorInfo& t = tensor(p + "mlp.experts." + std::to_string(e) + "." + proj + ".weight");
        std::copy(P + t.offset, P + t.offset + t.size, st.begin() + long(size_t(e) * F * D));
      }
      const std::string g = down ? "ffn_down_exps" : std::string(proj) == "gate_proj" ? "ffn_gate_exps" : "ffn_up_exps";
      emit(b + g + ".weight", down ? std::vector<int64_t>{F, D, E} : std::vector<int64_t>{D, F, E}, st.data(), false);
    }
    if (c.n_shared_experts > 0) {
      plain(p + "mlp.shared_experts.gate_proj.weight", b + "ffn_gate_shexp.weight");
      plain(p + "mlp.shared_experts.up_proj.weight", b + "ffn_up_shexp.weight");
      plain(p + "mlp.shared_experts.down_proj.weight", b + "ffn_down_shexp.weight");
    }
  }
  if (fallback) res.notes.push_back(std::to_string(fallback) + " tensors with rows not a multiple of 32 kept in F32");
  w.write(out_path);
  res.n_tensors = w.n_tensors();
  return res;
}

}  // namespace reasonrl::model

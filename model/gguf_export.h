// gguf_export.h: a Model (+ its tokenizer.json) as a GGUF file for llama.cpp's `deepseek2` architecture: the metadata
// llama.cpp's loader reads (MLA ranks, rope dims, YaRN, expert counts and routing), tensors under llama.cpp's names
// with kv_b_proj split into attn_k_b / attn_v_b (the MLA layout its current loader expects), and the byte-level BPE
// tokenizer (tokens, token types, merges, pre-tokenizer name). The MTP module is not exported (llama.cpp's deepseek2
// graph does not run it).
#pragma once
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/model.h"

namespace reasonrl::model {

struct GgufExportResult {
  size_t n_tensors = 0;
  std::vector<std::string> notes;  // what was left out or approximated, for the user
};

// wtype: type of the 2-D+ weights (F32, F16 or Q8_0). Norms, the router and its bias stay F32; a Q8_0 tensor whose
// rows are not a multiple of 32 falls back to F32 (noted). Throws ConfigError for a config llama.cpp cannot represent,
// IoError / FormatError for the tokenizer.
GgufExportResult export_gguf(const Model& model, const std::string& tokenizer_json, const std::string& out_path,
                             GgmlType wtype, const std::string& name = "reasonrl");

}  // namespace reasonrl::model

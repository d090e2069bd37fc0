// gguf.h: a writer of GGUF files (version 3, llama.cpp's model format: metadata key/values, tensor infos, aligned data)
// and the ggml element encodings it needs (F32, F16, Q8_0). Spec: ggml's docs/gguf.md. Errors are IoError / Error.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/half.h"

namespace reasonrl::model {

enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8 };
const char* ggml_type_name(GgmlType t);

// Bytes of n values (row-major, n a multiple of 32 for Q8_0) in type t. Q8_0 = ggml's quantize_row_q8_0_ref: blocks of
// 32 with d = max|x| / 127 stored as f16 and q = round(x / d).
std::string ggml_encode(const float* x, size_t n, GgmlType t);

class GgufWriter {
 public:
  static constexpr uint32_t kVersion = 3;
  static constexpr uint32_t kAlignment = 32;

  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_f32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_strings(const std::string& key, const std::vector<std::string>& v);
  void add_i32s(const std::string& key, const std::vector<int32_t>& v);
  // ne in ggml order (ne[0] is the contiguous dimension: a PyTorch shape reversed). data = ggml_encode(...) bytes.
  void add_tensor(const std::string& name, const std::vector<int64_t>& ne, GgmlType type, std::string data);
  // Writes the file atomically. Throws IoError.
  void write(const std::string& path) const;
  size_t n_tensors() const { return tensors_.size(); }

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    GgmlType type;
    std::string data;
  };
  void key(const std::string& k, uint32_t type);
  std::string kv_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace reasonrl::model

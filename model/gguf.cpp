// gguf.cpp: the GGUF v3 writer and the F16 / Q8_0 encodings (byte layout of ggml's gguf.md and ggml-quants.c).
#include "model/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "rl/util/error.h"

namespace reasonrl::model {

namespace {
enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9 };
template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));  // little-endian host
}
void put_str(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}
}  // namespace

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return "F32";
    case GgmlType::F16: return "F16";
    case GgmlType::Q8_0: return "Q8_0";
  }
  return "?";
}

std::string ggml_encode(const float* x, size_t n, GgmlType t) {
  std::string out;
  switch (t) {
    case GgmlType::F32:
      out.assign(reinterpret_cast<const char*>(x), n * 4);
      break;
    case GgmlType::F16:
      out.reserve(n * 2);
      for (size_t i = 0; i < n; ++i) put<uint16_t>(out, f32_to_f16(x[i]));
      break;
    case GgmlType::Q8_0: {
      if (n % 32) throw Error("Q8_0 needs a multiple of 32 values, got " + std::to_string(n));
      out.reserve(n / 32 * 34);
      for (size_t b = 0; b < n; b += 32) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
        const float d = amax / 127.0f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        put<uint16_t>(out, f32_to_f16(d));
        for (int j = 0; j < 32; ++j) put<int8_t>(out, int8_t(std::roundf(x[b + j] * id)));
      }
      break;
    }
  }
  return out;
}

void GgufWriter::key(const std::string& k, uint32_t type) {
  put_str(kv_, k);
  put<uint32_t>(kv_, type);
  ++n_kv_;
}
void GgufWriter::add_u32(const std::string& k, uint32_t v) { key(k, kU32), put(kv_, v); }
void GgufWriter::add_i32(const std::string& k, int32_t v) { key(k, kI32), put(kv_, v); }
void GgufWriter::add_f32(const std::string& k, float v) { key(k, kF32), put(kv_, v); }
void GgufWriter::add_bool(const std::string& k, bool v) { key(k, kBool), put<uint8_t>(kv_, v ? 1 : 0); }
void GgufWriter::add_string(const std::string& k, const std::string& v) { key(k, kString), put_str(kv_, v); }
void GgufWriter::add_strings(const std::string& k, const std::vector<std::string>& v) {
  key(k, kArray);
  put<uint32_t>(kv_, kString);
  put<uint64_t>(kv_, v.size());
  for (const auto& s : v) put_str(kv_, s);
}
void GgufWriter::add_i32s(const std::string& k, const std::vector<int32_t>& v) {
  key(k, kArray);
  put<uint32_t>(kv_, kI32);
  put<uint64_t>(kv_, v.size());
  for (int32_t x : v) put(kv_, x);
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& ne, GgmlType type, std::string data) {
  tensors_.push_back({name, ne, type, std::move(data)});
}

void GgufWriter::write(const std::string& path) const {
  std::string out;
  put<uint32_t>(out, 0x46554747u);  // "GGUF"
  put<uint32_t>(out, kVersion);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, n_kv_);
  out += kv_;
  auto pad = [](size_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; };
  uint64_t at = 0;
  for (const auto& t : tensors_) {
    put_str(out, t.name);
    put<uint32_t>(out, uint32_t(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(out, uint64_t(d));
    put<uint32_t>(out, uint32_t(t.type));
    put<uint64_t>(out, at);
    at = pad(at + t.data.size());
  }
  out.resize(pad(out.size()), '\0');
  for (const auto& t : tensors_) {
    out += t.data;
    out.resize(out.size() + (pad(t.data.size()) - t.data.size()), '\0');
  }
  write_file_atomic(path, out);
}

}  // namespace reasonrl::model

// safetensors.cpp: validated safetensors reader and F32 / BF16 writer (layout in algorithms.md §6.1).
#include "model/safetensors.h"

#include <algorithm>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <nlohmann/json.hpp>

#include "model/half.h"
#include "rl/util/error.h"

namespace reasonrl::model {

namespace {
using json = nlohmann::json;

// bits per element of every dtype in the format
int dtype_bits(const std::string& d) {
  static const std::pair<const char*, int> table[] = {
      {"BOOL", 8},     {"F4", 4},       {"F6_E2M3", 6},     {"F6_E3M2", 6},     {"U8", 8},   {"I8", 8},
      {"F8_E5M2", 8},  {"F8_E4M3", 8},  {"F8_E8M0", 8},     {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8},
      {"I16", 16},     {"U16", 16},     {"F16", 16},        {"BF16", 16},       {"I32", 32}, {"U32", 32},
      {"F32", 32},     {"C64", 64},     {"F64", 64},        {"I64", 64},        {"U64", 64}};
  for (const auto& [n, b] : table)
    if (d == n) return b;
  return -1;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

struct Mapping {
  void* p = nullptr;
  size_t n = 0;
  ~Mapping() {
    if (p) munmap(p, n);
  }
};
}  // namespace

SafetensorsFile SafetensorsFile::read(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw IoError("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw IoError("cannot stat " + path + ": " + std::strerror(errno));
  }
  auto m = std::make_shared<Mapping>();
  m->n = size_t(st.st_size);
  if (m->n > 0) {
    void* p = mmap(nullptr, m->n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw IoError("cannot mmap " + path + ": " + std::strerror(errno));
    }
    m->p = p;
  }
  ::close(fd);
  const char* base = static_cast<const char*>(m->p);
  const size_t n = m->n;
  return from_bytes(std::shared_ptr<const void>(m, m->p), base, n, path);
}

SafetensorsFile SafetensorsFile::parse(std::string bytes, const std::string& name) {
  auto s = std::make_shared<std::string>(std::move(bytes));
  const char* base = s->data();
  const size_t n = s->size();
  return from_bytes(std::shared_ptr<const void>(s, s->data()), base, n, name);
}

SafetensorsFile SafetensorsFile::from_bytes(std::shared_ptr<const void> hold, const char* base, size_t size,
                                            const std::string& name) {
  auto bad = [&](const std::string& msg) -> FormatError { return FormatError(name + ": not a valid safetensors file: " + msg); };
  SafetensorsFile f;
  f.path_ = name;
  f.hold_ = std::move(hold);
  f.bytes_ = base;
  const std::string_view b(base, size);
  if (b.size() < 8) throw bad("file is " + std::to_string(b.size()) + " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(b[size_t(i)]);
  if (n > 100000000ull) throw bad("header length " + std::to_string(n) + " is larger than 100 MB (bad magic?)");
  if (8 + n > b.size())
    throw bad("truncated: header length " + std::to_string(n) + " but only " + std::to_string(b.size() - 8) +
              " bytes follow");
  if (n == 0 || b[8] != '{') throw bad("header does not start with '{'");
  json h;
  try {
    h = json::parse(b.data() + 8, b.data() + 8 + n);
  } catch (const json::exception& e) {
    throw bad(std::string("header is not valid JSON: ") + e.what());
  }
  if (!h.is_object()) throw bad("header is not a JSON object");
  f.data_start_ = 8 + n;
  const size_t data_size = b.size() - f.data_start_;
  std::vector<std::pair<std::string, StTensorInfo>> list;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) throw bad("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw bad("__metadata__ value of '" + m.key() + "' is not a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw bad("tensor '" + key + "' lacks dtype, shape or data_offsets");
    StTensorInfo t;
    if (!v["dtype"].is_string()) throw bad("tensor '" + key + "': dtype is not a string");
    t.dtype = v["dtype"].get<std::string>();
    const int bits = dtype_bits(t.dtype);
    if (bits < 0) throw bad("tensor '" + key + "': unknown dtype '" + t.dtype + "'");
    if (!v["shape"].is_array()) throw bad("tensor '" + key + "': shape is not a list");
    unsigned __int128 numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw bad("tensor '" + key + "': shape entries must be non-negative integers");
      t.shape.push_back(d.get<int64_t>());
      numel *= uint64_t(t.shape.back());
      if (numel > (unsigned __int128)(1) << 62) throw bad("tensor '" + key + "': shape too large");
    }
    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("tensor '" + key + "': data_offsets must be two non-negative integers");
    t.begin = off[0].get<size_t>();
    t.end = off[1].get<size_t>();
    if (t.end < t.begin) throw bad("tensor '" + key + "': data_offsets end < begin");
    const unsigned __int128 nbits = numel * unsigned(bits);
    if (nbits % 8 != 0) throw bad("tensor '" + key + "': size in bits is not a multiple of 8");
    if ((unsigned __int128)(t.end - t.begin) != nbits / 8)
      throw bad("tensor '" + key + "': " + std::to_string(t.end - t.begin) + " bytes for shape " + shape_str(t.shape) +
                " of " + t.dtype);
    list.emplace_back(key, t);
  }
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& c) {
    return a.second.begin != c.second.begin ? a.second.begin < c.second.begin : a.second.end < c.second.end;
  });
  size_t at = 0;
  for (const auto& [k, t] : list) {
    if (t.begin != at) throw bad("tensor '" + k + "' does not start where the previous one ends (holes or overlap)");
    at = t.end;
  }
  if (at != data_size)
    throw bad(at > data_size ? "truncated: tensors need " + std::to_string(at) + " data bytes, file has " +
                                   std::to_string(data_size)
                             : "trailing bytes after the last tensor (" + std::to_string(data_size - at) + ")");
  for (auto& [k, t] : list) f.tensors_[k] = t;
  return f;
}

const StTensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw FormatError(path_ + ": tensor '" + name + "' is missing");
  return it->second;
}

const char* SafetensorsFile::raw(const std::string& name) const { return bytes_ + data_start_ + info(name).begin; }

void SafetensorsFile::read_f32_into(const std::string& name, float* dst, const std::vector<int64_t>* expect) const {
  const StTensorInfo& t = info(name);
  if (t.dtype != "F32" && t.dtype != "BF16" && t.dtype != "F16")
    throw FormatError(path_ + ": tensor '" + name + "' has dtype " + t.dtype + ", not one this build reads (F32, BF16, F16)");
  if (expect && *expect != t.shape)
    throw FormatError(path_ + ": tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " +
                      shape_str(*expect));
  const char* p = bytes_ + data_start_ + t.begin;
  const size_t nb = t.end - t.begin;
  if (t.dtype == "F32") {
    std::memcpy(dst, p, nb);  // little-endian host
    return;
  }
  for (size_t i = 0; i < nb / 2; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    dst[i] = t.dtype == "BF16" ? bf16_to_f32(h) : f16_to_f32(h);
  }
}

std::vector<float> SafetensorsFile::get_f32(const std::string& name, const std::vector<int64_t>* expect) const {
  const StTensorInfo& t = info(name);
  size_t n = 1;
  for (auto d : t.shape) n *= size_t(d);
  std::vector<float> out(n);
  read_f32_into(name, out.data(), expect);
  return out;
}

std::vector<double> SafetensorsFile::get_as_double(const std::string& name) const {
  const StTensorInfo& t = info(name);
  const char* p = bytes_ + data_start_ + t.begin;
  const size_t nb = t.end - t.begin;
  std::vector<double> out;
  if (t.dtype == "F32") {
    out.resize(nb / 4);
    for (size_t i = 0; i < out.size(); ++i) {
      float v;
      std::memcpy(&v, p + 4 * i, 4);
      out[i] = v;
    }
  } else if (t.dtype == "F64") {
    out.resize(nb / 8);
    std::memcpy(out.data(), p, nb);
  } else if (t.dtype == "BF16" || t.dtype == "F16") {
    out.resize(nb / 2);
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = t.dtype == "BF16" ? bf16_to_f32(h) : f16_to_f32(h);
    }
  } else {
    throw FormatError(path_ + ": tensor '" + name + "' has dtype " + t.dtype + ", expected a float type");
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<StWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, StDtype dtype) {
  const size_t esize = dtype == StDtype::F32 ? 4 : 2;
  std::vector<const StWriteTensor*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = m;
  }
  size_t at = 0;
  std::vector<size_t> sizes;
  for (const auto* t : order) {
    size_t numel = 1;
    for (auto d : t->shape) numel *= size_t(d);
    const size_t nb = numel * esize;
    h[t->name] = {{"dtype", dtype == StDtype::F32 ? "F32" : "BF16"}, {"shape", t->shape}, {"data_offsets", {at, at + nb}}};
    at += nb;
    sizes.push_back(nb);
  }
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  std::string out;
  out.reserve(8 + hs.size() + at);
  uint64_t n = hs.size();
  for (int i = 0; i < 8; ++i) out += char((n >> (8 * i)) & 0xff);
  out += hs;
  for (size_t i = 0; i < order.size(); ++i) {
    if (dtype == StDtype::F32) {
      out.append(reinterpret_cast<const char*>(order[i]->data), sizes[i]);
    } else {
      for (size_t k = 0; k < sizes[i] / 2; ++k) {
        const uint16_t b = f32_to_bf16(order[i]->data[k]);
        out.append(reinterpret_cast<const char*>(&b), 2);
      }
    }
  }
  write_file_atomic(path, out);
}

}  // namespace reasonrl::model

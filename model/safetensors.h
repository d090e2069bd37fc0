// safetensors.h: reader and writer of the safetensors format (u64 header length, JSON header, raw little-endian data)
// with the validation of the reference implementation: contiguous tiling, sizes, dtype, bounds. Errors are FormatError.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace reasonrl::model {

struct StTensorInfo {
  std::string dtype;           // "F32", "BF16", ...
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;   // byte offsets into the data buffer
};

class SafetensorsFile {
 public:
  // Map (mmap, read-only) and validate a file: tensor data is read in place, never copied whole. Throws IoError
  // (cannot open) or FormatError (malformed, e.g. truncated), naming the path.
  static SafetensorsFile read(const std::string& path);
  static SafetensorsFile parse(std::string bytes, const std::string& name);
  const std::map<std::string, StTensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // The entry (dtype, shape, offsets) of a tensor; FormatError naming the file and tensor if missing.
  const StTensorInfo& info(const std::string& name) const;
  // A tensor as floats, converted from F32, BF16 or F16; FormatError naming the file and tensor if missing, of another
  // dtype, or (if expect_shape is given) of another shape.
  std::vector<float> get_f32(const std::string& name, const std::vector<int64_t>* expect_shape = nullptr) const;
  // The same, written to dst (numel floats) without a temporary.
  void read_f32_into(const std::string& name, float* dst, const std::vector<int64_t>* expect_shape = nullptr) const;
  // The raw little-endian bytes of a tensor (FormatError if missing).
  const char* raw(const std::string& name) const;
  // A tensor as doubles, converted from F32 / F64 / BF16 / F16 (for reference files written by tests).
  std::vector<double> get_as_double(const std::string& name) const;
  const std::string& path() const { return path_; }

 private:
  static SafetensorsFile from_bytes(std::shared_ptr<const void> hold, const char* base, size_t size,
                                    const std::string& name);
  std::string path_;
  std::shared_ptr<const void> hold_;  // owns the bytes: a std::string or an mmap
  const char* bytes_ = nullptr;
  size_t data_start_ = 0;
  std::map<std::string, StTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct StWriteTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data;
};
enum class StDtype { F32, BF16 };
// Writes tensors (sorted by name, header padded to 8 bytes) atomically in dtype (BF16: rounded to nearest even).
// Throws IoError.
void write_safetensors(const std::string& path, const std::vector<StWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, StDtype dtype = StDtype::F32);

}  // namespace reasonrl::model

// Adapters from TensorFlow's Env file classes to the table core's byte
// streams (cc/core/kv_file.h), so table files go through any filesystem TF
// knows (local, GCS, HDFS, ...).
#ifndef TFRA_CC_KERNELS_TF_FILE_IO_H_
#define TFRA_CC_KERNELS_TF_FILE_IO_H_

#include <cstring>
#include <memory>
#include <string>

#include "cc/core/kv_file.h"
#include "cc/kernels/table_resource.h"
#include "tensorflow/core/framework/types.h"
#include "tensorflow/core/platform/env.h"
#include "tensorflow/core/platform/errors.h"

namespace tensorflow {
namespace tfra_ops {

constexpr char kTableFileSuffix[] = ".tfrakv";

class TfFileSink : public ::tfra::core::ByteSink {
 public:
  explicit TfFileSink(WritableFile* file) : file_(file) {}
  ::tfra::core::Status Append(const char* data, size_t n) override {
    const absl::Status s = file_->Append(absl::string_view(data, n));
    return s.ok() ? ::tfra::core::Status::OK()
                  : ::tfra::core::Status(::tfra::core::Code::kInternal,
                                         std::string(s.message()));
  }

 private:
  WritableFile* file_;
};

class TfFileSource : public ::tfra::core::ByteSource {
 public:
  TfFileSource(std::unique_ptr<RandomAccessFile> file, uint64_t size)
      : file_(std::move(file)), size_(size) {}

  // Opens `path` for random access.
  static absl::Status Open(Env* env, const std::string& path,
                           std::unique_ptr<TfFileSource>* out) {
    uint64_t size = 0;
    TF_RETURN_IF_ERROR(env->GetFileSize(path, &size));
    std::unique_ptr<RandomAccessFile> file;
    TF_RETURN_IF_ERROR(env->NewRandomAccessFile(path, &file));
    out->reset(new TfFileSource(std::move(file), size));
    return absl::OkStatus();
  }

  uint64_t Size() const override { return size_; }
  ::tfra::core::Status Read(uint64_t offset, size_t n, char* dst) override {
    absl::string_view got;
    const absl::Status s = file_->Read(offset, n, &got, dst);
    if (got.size() != n) {
      return ::tfra::core::DataLoss("short read: " + std::string(s.message()));
    }
    if (got.data() != dst) std::memcpy(dst, got.data(), n);
    return ::tfra::core::Status::OK();
  }

 private:
  std::unique_ptr<RandomAccessFile> file_;
  uint64_t size_;
};

// Opens the table file `path` for reading with key type K and checks its
// header: key type (in Open), value dtype and dim against what `owner` (a
// word for error messages: "table", "variable") holds. Reads go through a
// `buffer_size`-byte buffer.
template <typename K>
absl::Status OpenTableFile(Env* env, const std::string& path,
                           DataType value_dtype, int64_t dim,
                           size_t buffer_size, const char* owner,
                           std::unique_ptr<TfFileSource>* source,
                           std::unique_ptr<::tfra::core::KvFileReader<K>>* reader) {
  if (!env->FileExists(path).ok()) {
    return errors::NotFound("table file '", path, "' does not exist");
  }
  TF_RETURN_IF_ERROR(TfFileSource::Open(env, path, source));
  reader->reset(new ::tfra::core::KvFileReader<K>(source->get(), path,
                                                  buffer_size));
  TF_RETURN_IF_ERROR(ToTfStatus((*reader)->Open()));
  const auto& h = (*reader)->header();
  const DataType file_dtype = static_cast<DataType>(h.value_dtype);
  // The header's value dtype and value width must agree before either is
  // compared with the owner's: readers size rows by value_bytes, callers
  // size tensors by the dtype.
  if (!DataType_IsValid(static_cast<int>(h.value_dtype)) ||
      file_dtype == DT_INVALID ||
      DataTypeSize(file_dtype) == 0 ||
      static_cast<uint32_t>(DataTypeSize(file_dtype)) != h.value_bytes) {
    return errors::DataLoss(
        "table file '", path, "' has a corrupt header: value dtype code ",
        h.value_dtype, " (", DataType_IsValid(static_cast<int>(h.value_dtype))
                                 ? DataTypeString(file_dtype)
                                 : std::string("unknown"),
        ") disagrees with value_bytes ", h.value_bytes);
  }
  if (file_dtype != value_dtype) {
    return errors::InvalidArgument("table file '", path, "' holds ",
                                   DataTypeString(file_dtype),
                                   " values but the ", owner,
                                   "'s value dtype is ",
                                   DataTypeString(value_dtype));
  }
  if (h.dim != dim) {
    return errors::InvalidArgument("table file '", path, "' holds rows of dim ",
                                   h.dim, " but the ", owner, "'s dim is ",
                                   dim);
  }
  return absl::OkStatus();
}

}  // namespace tfra_ops
}  // namespace tensorflow

#endif  // TFRA_CC_KERNELS_TF_FILE_IO_H_

// Adapters from TensorFlow's Env file classes to the table core's byte
// streams (cc/core/kv_file.h), so table files go through any filesystem TF
// knows (local, GCS, HDFS, ...).
#ifndef TFRA_CC_KERNELS_TF_FILE_IO_H_
#define TFRA_CC_KERNELS_TF_FILE_IO_H_

#include <cstring>
#include <memory>
#include <string>

#include "cc/core/kv_file.h"
#include "tensorflow/core/platform/env.h"

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

}  // namespace tfra_ops
}  // namespace tensorflow

#endif  // TFRA_CC_KERNELS_TF_FILE_IO_H_

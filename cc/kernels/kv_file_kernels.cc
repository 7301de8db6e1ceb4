// Table-file readers that need no table: KvFileVerify checks whole files
// (header against the expected dtypes and dim, record structure, count,
// CRC) and KvFileReadRows decodes one bounded chunk of records starting at a
// byte offset. Together they let Python stream a checkpoint's side files
// into a variable through its own partitioner (re-sharding on load) with
// memory bounded by one chunk: verify every file first, so a corrupt file
// is reported before any row is applied, then read chunk by chunk, each op
// call reopening the file at the offset the previous call returned.
#include <string>
#include <vector>

#include "cc/core/kv_file.h"
#include "cc/kernels/shard_sets.h"
#include "cc/kernels/table_resource.h"
#include "cc/kernels/tf_file_io.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"

namespace tensorflow {
namespace tfra_ops {
namespace {

namespace tc = ::tfra::core;

struct FileSpec {
  DataType value_dtype;
  int64_t dim;
  int64_t buffer_size;
};

absl::Status GetSpec(OpKernelConstruction* ctx, FileSpec* spec) {
  TF_RETURN_IF_ERROR(ctx->GetAttr("value_dtype", &spec->value_dtype));
  TF_RETURN_IF_ERROR(ctx->GetAttr("dim", &spec->dim));
  return ctx->GetAttr("buffer_size", &spec->buffer_size);
}

// Opens a file whose header must match the variable's key type K, value
// dtype and dim.
template <typename K>
absl::Status OpenFor(const FileSpec& spec, OpKernelContext* ctx,
                     const std::string& path,
                     std::unique_ptr<TfFileSource>* source,
                     std::unique_ptr<tc::KvFileReader<K>>* reader) {
  return OpenTableFile(ctx->env(), path, spec.value_dtype, spec.dim,
                       static_cast<size_t>(spec.buffer_size), "variable",
                       source, reader);
}

template <typename TK>
class VerifyOp : public OpKernel {
 public:
  explicit VerifyOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, GetSpec(ctx, &spec_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("complete_sets", &complete_sets_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("all_ranks", &all_ranks_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& paths = ctx->input(0);
    OP_REQUIRES(ctx, TensorShapeUtils::IsVector(paths.shape()),
                errors::InvalidArgument("paths: must be a vector, got shape ",
                                        paths.shape().DebugString()));
    if (complete_sets_) {
      std::vector<std::string> names;
      for (int64_t i = 0; i < paths.NumElements(); ++i) {
        names.emplace_back(paths.vec<tstring>()(i));
      }
      OP_REQUIRES_OK(ctx, CheckShardSets(names, all_ranks_));
    }
    Tensor* counts = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, paths.shape(), &counts));
    for (int64_t i = 0; i < paths.NumElements(); ++i) {
      const std::string path(paths.vec<tstring>()(i));
      std::unique_ptr<TfFileSource> source;
      std::unique_ptr<tc::KvFileReader<KeyStorage<TK>>> reader;
      OP_REQUIRES_OK(ctx, OpenFor(spec_, ctx, path, &source, &reader));
      OP_REQUIRES_OK(ctx, ToTfStatus(reader->Verify()));
      counts->vec<int64_t>()(i) = static_cast<int64_t>(reader->count());
    }
  }

 private:
  FileSpec spec_;
  bool complete_sets_ = false;
  bool all_ranks_ = false;
};

template <typename TK>
class ReadRowsOp : public OpKernel {
 public:
  explicit ReadRowsOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, GetSpec(ctx, &spec_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("max_rows", &max_rows_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& path_t = ctx->input(0);
    const Tensor& offset_t = ctx->input(1);
    OP_REQUIRES(ctx, TensorShapeUtils::IsScalar(path_t.shape()) &&
                         TensorShapeUtils::IsScalar(offset_t.shape()),
                errors::InvalidArgument("path and offset: must be scalars"));
    const std::string path(path_t.scalar<tstring>()());
    std::unique_ptr<TfFileSource> source;
    std::unique_ptr<tc::KvFileReader<KeyStorage<TK>>> reader;
    OP_REQUIRES_OK(ctx, OpenFor(spec_, ctx, path, &source, &reader));
    // Offset 0 means "from the first record".
    const uint64_t offset = offset_t.scalar<int64_t>()() == 0
                                ? reader->FirstRecord()
                                : static_cast<uint64_t>(offset_t.scalar<int64_t>()());
    std::vector<KeyStorage<TK>> keys;
    std::vector<char> values;
    uint64_t next = 0;
    OP_REQUIRES_OK(ctx, ToTfStatus(reader->ReadRange(
                            offset, static_cast<size_t>(max_rows_), &keys,
                            &values, &next)));
    const int64_t n = static_cast<int64_t>(keys.size());
    Tensor* keys_out = nullptr;
    Tensor* values_out = nullptr;
    Tensor* next_out = nullptr;
    Tensor* end_out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({n}), &keys_out));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({n, spec_.dim}),
                                             &values_out));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({}), &next_out));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, TensorShape({}), &end_out));
    CopyKeys<TK>(keys.data(), keys.size(), keys_out->flat<TK>().data());
    if (!values.empty()) {
      std::memcpy(const_cast<char*>(values_out->tensor_data().data()),
                  values.data(), values.size());
    }
    next_out->scalar<int64_t>()() = static_cast<int64_t>(next);
    end_out->scalar<int64_t>()() = static_cast<int64_t>(reader->records_end());
  }

 private:
  FileSpec spec_;
  int64_t max_rows_ = 0;
};

class RaiseStatusOp : public OpKernel {
 public:
  explicit RaiseStatusOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const int32_t code = ctx->input(0).scalar<int32_t>()();
    if (code == 0) return;
    OP_REQUIRES(ctx, code > 0 && code <= 16,
                errors::InvalidArgument("code: ", code,
                                        " is not a status code (1..16)"));
    ctx->SetStatus(absl::Status(static_cast<absl::StatusCode>(code),
                                ctx->input(1).scalar<tstring>()()));
  }
};

REGISTER_KERNEL_BUILDER(Name("TFRA>RaiseStatus").Device(DEVICE_CPU),
                        RaiseStatusOp);

#define TFRA_REGISTER_FILE_READERS(K, V)                                   \
  TFRA_REGISTER_KV_KERNEL("TFRA>KvFileVerify", "key_dtype", "value_dtype", \
                          K, V, VerifyOp<K>)                               \
  TFRA_REGISTER_KV_KERNEL("TFRA>KvFileReadRows", "key_dtype",              \
                          "value_dtype", K, V, ReadRowsOp<K>)

TFRA_FOR_EACH_KEY_VALUE_TYPE(TFRA_REGISTER_FILE_READERS)
#undef TFRA_REGISTER_FILE_READERS

}  // namespace
}  // namespace tfra_ops
}  // namespace tensorflow

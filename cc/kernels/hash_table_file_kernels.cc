// SaveToFileSystem / LoadFromFileSystem kernels: stream a table to and from
// files in the table file format (cc/core/kv_file.h) through TF's Env, so any
// filesystem TF knows (local, GCS, HDFS, ...) works.
//
// Save is atomic: rows stream into "<file>.tmp-<unique>", which is synced and
// closed, then renamed over "<file>". A save killed part-way leaves the
// previous file intact. A backend with the Snapshots capability streams its
// rows in place (the CPU table reads each shard under its shared lock while
// it streams; memory beyond the table is one buffer_size buffer); any other
// backend is read one export_batch page at a time (ForEachRow; a GPU table's
// pages pass through pinned host memory, and loads are staged back the same
// way).
//
// Load is all-or-nothing on bad input: every file is opened and verified
// (header, dtypes, dim, record structure, count, CRC) before the first row is
// inserted. Loaded rows are inserted (insert-or-assign) into the existing
// content; when several files hold a key the later file (by name) wins.
#include <algorithm>
#include <string>
#include <vector>

#include "cc/core/device_rows.h"
#include "cc/core/kv_file.h"
#include "cc/kernels/row_outputs.h"
#include "cc/kernels/table_resource.h"
#include "cc/kernels/tf_file_io.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/platform/env.h"
#include "tensorflow/core/platform/path.h"
#include "tensorflow/core/platform/random.h"

namespace tensorflow {
namespace tfra_ops {
namespace {

namespace tc = ::tfra::core;

absl::Status ScalarString(OpKernelContext* ctx, int index, const char* arg,
                          std::string* out) {
  const Tensor& t = ctx->input(index);
  if (!TensorShapeUtils::IsScalar(t.shape())) {
    return errors::InvalidArgument(arg, ": must be a scalar string, got shape ",
                                   t.shape().DebugString());
  }
  *out = std::string(t.scalar<tstring>()());
  return absl::OkStatus();
}

// Inputs shared by save and load: the table (checked against key type TK),
// the directory and the file name.
template <typename Device, typename TK>
absl::Status FileOpInputs(OpKernelContext* ctx,
                          core::RefCountPtr<TableResource>* table,
                          std::string* dir, std::string* name) {
  TF_RETURN_IF_ERROR(GetTableOn<Device>(ctx, DataTypeToEnum<TK>::value, table));
  TF_RETURN_IF_ERROR(ScalarString(ctx, 1, "dirpath", dir));
  return ScalarString(ctx, 2, "file_name", name);
}

template <typename Device, typename TK>
class SaveOp : public OpKernel {
 public:
  explicit SaveOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("buffer_size", &buffer_size_));
  }

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    std::string dir, name;
    OP_REQUIRES_OK(ctx, (FileOpInputs<Device, TK>(ctx, &table, &dir, &name)));
    OP_REQUIRES(ctx, !name.empty() && name.find('/') == std::string::npos,
                errors::InvalidArgument("file_name: must be a non-empty name "
                                        "without '/', got '", name, "'"));
    Env* env = ctx->env();
    OP_REQUIRES_OK(ctx, env->RecursivelyCreateDir(dir));
    const std::string path = io::JoinPath(dir, name + kTableFileSuffix);
    const std::string tmp =
        absl::StrCat(path, ".tmp-", random::New64());
    const KernelExec<Device> exec(ctx);
    const absl::Status s = Write(exec.get(), env, table.get(), tmp);
    if (!s.ok()) {
      env->DeleteFile(tmp).IgnoreError();
      ctx->SetStatus(s);
      return;
    }
    OP_REQUIRES_OK(ctx, env->RenameFile(tmp, path));
  }

 private:
  absl::Status Write(const tc::ExecContext& exec, Env* env,
                     TableResource* table, const std::string& tmp) {
    std::unique_ptr<WritableFile> file;
    TF_RETURN_IF_ERROR(env->NewWritableFile(tmp, &file));
    TfFileSink sink(file.get());
    tc::KvFileHeader header;
    header.key_kind = tc::KeyKindOf<KeyStorage<TK>>();
    header.value_dtype = static_cast<uint32_t>(table->value_dtype());
    header.value_bytes = DataTypeSize(table->value_dtype());
    header.dim = table->dim();
    tc::KvFileWriter<KeyStorage<TK>> writer(&sink, header, buffer_size_);
    TF_RETURN_IF_ERROR(ToTfStatus(writer.Begin()));
    // Streamed, so memory beyond the table stays at one piece (each piece
    // is consistent; a save racing writes is not one point in time).
    TF_RETURN_IF_ERROR(ForEachRow<TK>(
        exec, table, RowScan::kStream, nullptr,
        [&](const KeyStorage<TK>* keys, const char* values,
            const tc::RowMeta*, size_t count) {
          return writer.Write(keys, values, count);
        }));
    TF_RETURN_IF_ERROR(ToTfStatus(writer.Finish()));
    TF_RETURN_IF_ERROR(file->Sync());
    return file->Close();
  }

  int64_t buffer_size_ = 0;
};

template <typename Device, typename TK>
class LoadOp : public OpKernel {
 public:
  explicit LoadOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("buffer_size", &buffer_size_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("load_entire_dir", &entire_dir_));
  }

  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    std::string dir, name;
    OP_REQUIRES_OK(ctx, (FileOpInputs<Device, TK>(ctx, &table, &dir, &name)));
    std::vector<std::string> paths;
    OP_REQUIRES_OK(ctx, ListFiles(ctx->env(), dir, name, &paths));

    using Reader = tc::KvFileReader<KeyStorage<TK>>;
    std::vector<std::unique_ptr<TfFileSource>> sources(paths.size());
    std::vector<std::unique_ptr<Reader>> readers(paths.size());
    for (size_t i = 0; i < paths.size(); ++i) {
      OP_REQUIRES_OK(ctx, OpenTableFile(ctx->env(), paths[i],
                                        table->value_dtype(), table->dim(),
                                        buffer_size_, "table", &sources[i],
                                        &readers[i]));
      OP_REQUIRES_OK(ctx, ToTfStatus(readers[i]->Verify()));
    }
    const KernelExec<Device> exec(ctx);
    for (auto& r : readers) {
      OP_REQUIRES_OK(ctx, ToTfStatus(r->ReadAll(
          [&](const KeyArg<TK>* keys, const char* values, size_t count) {
            // A device table's rows are staged through device scratch.
            return tc::InsertStagedRows<KeyStorage<TK>>(
                exec.get(), table->typed<TK>(), keys, count, values);
          })));
    }
  }

 private:
  template <typename T>
  using KeyArg = typename CoreTable<T>::Arg;

  absl::Status ListFiles(Env* env, const std::string& dir,
                         const std::string& name,
                         std::vector<std::string>* paths) {
    if (!entire_dir_) {
      const std::string path = io::JoinPath(dir, name + kTableFileSuffix);
      const absl::Status exists = env->FileExists(path);
      if (!exists.ok()) {
        return errors::NotFound("table file '", path, "' does not exist (dirpath '",
                                dir, "', file_name '", name, "')");
      }
      paths->push_back(path);
      return absl::OkStatus();
    }
    std::vector<std::string> children;
    const absl::Status listed = env->GetChildren(dir, &children);
    if (!listed.ok()) {
      return errors::NotFound("dirpath '", dir, "' cannot be listed: ",
                              listed.message());
    }
    std::sort(children.begin(), children.end());
    for (const std::string& c : children) {
      if (absl::EndsWith(c, kTableFileSuffix)) paths->push_back(io::JoinPath(dir, c));
    }
    if (paths->empty()) {
      return errors::NotFound("dirpath '", dir, "' holds no table files (*",
                              kTableFileSuffix, ")");
    }
    return absl::OkStatus();
  }

  int64_t buffer_size_ = 0;
  bool entire_dir_ = false;
};

#define TFRA_REGISTER_FILE_KV(K, V)                                         \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableSaveToFileSystem", "key_dtype",      \
                          "value_dtype", K, V, SaveOp<CPUDevice, K>)          \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableLoadFromFileSystem", "key_dtype",    \
                          "value_dtype", K, V, LoadOp<CPUDevice, K>)

TFRA_FOR_EACH_KEY_VALUE_TYPE(TFRA_REGISTER_FILE_KV)
#undef TFRA_REGISTER_FILE_KV

#if TFRA_WITH_CUDA
// GPU tables (int64/int32 keys): rows pass through pinned host pages
// (cc/core/device_rows.h); the path strings stay on the host.
#define TFRA_REGISTER_GPU_FILE_KV(K, V)                                    \
  REGISTER_KERNEL_BUILDER(Name("TFRA>HashTableSaveToFileSystem")           \
                              .Device(DEVICE_GPU)                          \
                              .TypeConstraint<K>("key_dtype")              \
                              .TypeConstraint<V>("value_dtype"),           \
                          SaveOp<GpuDevice, K>);                           \
  REGISTER_KERNEL_BUILDER(Name("TFRA>HashTableLoadFromFileSystem")         \
                              .Device(DEVICE_GPU)                          \
                              .TypeConstraint<K>("key_dtype")              \
                              .TypeConstraint<V>("value_dtype"),           \
                          LoadOp<GpuDevice, K>);
TFRA_FOR_EACH_VALUE_TYPE(TFRA_REGISTER_GPU_FILE_KV, int64_t)
TFRA_FOR_EACH_VALUE_TYPE(TFRA_REGISTER_GPU_FILE_KV, int32)
#undef TFRA_REGISTER_GPU_FILE_KV
#endif  // TFRA_WITH_CUDA

}  // namespace
}  // namespace tfra_ops
}  // namespace tensorflow

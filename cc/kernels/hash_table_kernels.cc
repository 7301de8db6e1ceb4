// OpKernels of the TFRA>CuckooHashTable* op family over the table interface.
//
// One kernel class per operation, templated only on the key type: values are
// moved as opaque rows, so the eight value dtypes share one instantiation and
// differ only in the RowAccumFn chosen when the table is created. Every
// kernel validates all inputs (dtypes against the table, shapes against
// keys.shape + [dim]) before calling the table, so bad input never
// half-applies a write.
#include <memory>

#include "cc/core/cpu_hash_table.h"
#include "cc/kernels/row_outputs.h"
#include "cc/kernels/table_resource.h"
#include "tensorflow/core/framework/bfloat16.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/framework/types.h"
#include "tensorflow/core/platform/mutex.h"

namespace tensorflow {
namespace tfra_ops {
namespace {

namespace tc = ::tfra::core;

template <typename V>
void AddRow(char* dst, const char* delta, int64_t dim) {
  V* d = reinterpret_cast<V*>(dst);
  const V* s = reinterpret_cast<const V*>(delta);
  for (int64_t i = 0; i < dim; ++i) d[i] = static_cast<V>(d[i] + s[i]);
}
// bool rows accumulate as logical OR (a saturating add).
template <>
void AddRow<bool>(char* dst, const char* delta, int64_t dim) {
  for (int64_t i = 0; i < dim; ++i) dst[i] = dst[i] || delta[i];
}

absl::Status AccumFnFor(DataType dt, tc::RowAccumFn* fn) {
  switch (dt) {
#define TFRA_ACCUM_CASE(unused, T) \
  case DataTypeToEnum<T>::value:     \
    *fn = &AddRow<T>;                \
    return absl::OkStatus();
    TFRA_FOR_EACH_VALUE_TYPE(TFRA_ACCUM_CASE, unused)
#undef TFRA_ACCUM_CASE
    default:
      return errors::InvalidArgument("value_dtype ", DataTypeString(dt),
                                     " is not supported");
  }
}

template <typename K>
absl::Status MakeCpuTable(const tc::CpuHashTableOptions& opt,
                          std::unique_ptr<tc::TableBase>* out) {
  std::unique_ptr<tc::CpuHashTable<K>> t;
  TF_RETURN_IF_ERROR(ToTfStatus(tc::CpuHashTable<K>::Create(opt, &t)));
  *out = std::move(t);
  return absl::OkStatus();
}

// The bounded-table attrs of the creation op (row_meta.h): max_capacity,
// evict_strategy, ttl, admit_after, sketch_width, track_meta.
absl::Status GetBounds(OpKernelConstruction* ctx, tc::TableBounds* b) {
  std::string policy;
  int64_t admit_after = 0;
  TF_RETURN_IF_ERROR(ctx->GetAttr("max_capacity", &b->max_capacity));
  TF_RETURN_IF_ERROR(ctx->GetAttr("evict_strategy", &policy));
  TF_RETURN_IF_ERROR(ctx->GetAttr("ttl", &b->ttl));
  TF_RETURN_IF_ERROR(ctx->GetAttr("admit_after", &admit_after));
  TF_RETURN_IF_ERROR(ctx->GetAttr("sketch_width", &b->sketch_width));
  TF_RETURN_IF_ERROR(ctx->GetAttr("track_meta", &b->track));
  b->admit_after = static_cast<int32_t>(admit_after);
  if (policy == "lru") {
    b->policy = tc::EvictPolicy::kLru;
  } else if (policy == "lfu") {
    b->policy = tc::EvictPolicy::kLfu;
  } else if (policy == "ttl") {
    b->policy = tc::EvictPolicy::kTtl;
  } else if (policy == "custom") {
    b->policy = tc::EvictPolicy::kCustom;
  } else {
    return errors::InvalidArgument("evict_strategy: must be lru, lfu, ttl or "
                                   "custom, got '", policy, "'");
  }
  if (admit_after < 0 || admit_after > 255) {
    return errors::InvalidArgument("admit_after: must be in [0, 255], got ",
                                   admit_after);
  }
  return absl::OkStatus();
}

class HashTableOp : public OpKernel {
 public:
  explicit HashTableOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("key_dtype", &key_dtype_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("value_dtype", &value_dtype_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("init_size", &init_size_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("num_shards", &num_shards_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("use_node_name_sharing", &use_node_name_sharing_));
    OP_REQUIRES_OK(ctx, GetBounds(ctx, &bounds_));
    std::string shared_name;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("shared_name", &shared_name));
    anonymous_ = shared_name.empty() && !use_node_name_sharing_;
    TensorShape value_shape;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("value_shape", &value_shape));
    OP_REQUIRES(ctx, value_shape.dims() == 1 && value_shape.dim_size(0) >= 1,
                errors::InvalidArgument(
                    "value_shape: must be [dim] with dim >= 1, got ",
                    value_shape.DebugString()));
    dim_ = value_shape.dim_size(0);
    OP_REQUIRES(ctx, init_size_ >= 0,
                errors::InvalidArgument("init_size: must be >= 0, got ", init_size_));
    OP_REQUIRES(ctx, num_shards_ >= 0 && num_shards_ <= 1024,
                errors::InvalidArgument("num_shards: must be in [0, 1024], got ",
                                        num_shards_));
  }

  // With a shared_name (or node-name sharing) the table lives in the
  // ResourceMgr and is shared by name, as TF1-style tables are. Without one,
  // every execution creates a fresh table owned by a ref-counting handle: it
  // is freed when the last handle tensor referring to it is gone, so eager
  // tables never leak and two loads of one SavedModel never share a table.
  void Compute(OpKernelContext* ctx) override {
    if (anonymous_) {
      TableResource* table = nullptr;
      OP_REQUIRES_OK(ctx, Create(&table));
      Tensor* out;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
      out->scalar<ResourceHandle>()() =
          ResourceHandle::MakeRefCountingHandle(table, ctx->device()->name());
      return;
    }
    mutex_lock l(mu_);
    if (!handle_set_) {
      ContainerInfo cinfo;
      OP_REQUIRES_OK(ctx, cinfo.Init(ctx->resource_manager(), def(),
                                     use_node_name_sharing_));
      TableResource* table = nullptr;
      OP_REQUIRES_OK(ctx, cinfo.resource_manager()->LookupOrCreate<TableResource>(
                              cinfo.container(), cinfo.name(), &table,
                              [this](TableResource** ret) { return Create(ret); }));
      core::ScopedUnref unref(table);
      OP_REQUIRES(ctx, table->key_dtype() == key_dtype_ &&
                           table->value_dtype() == value_dtype_ &&
                           table->dim() == dim_,
                  errors::InvalidArgument(
                      "shared_name '", cinfo.name(), "' already names a table ",
                      "with different dtypes or dim: ", table->DebugString()));
      handle_ = MakeResourceHandle<TableResource>(ctx, cinfo.container(),
                                                  cinfo.name());
      handle_set_ = true;
    }
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
    out->scalar<ResourceHandle>()() = handle_;
  }

 private:
  absl::Status Create(TableResource** ret) {
    tc::CpuHashTableOptions opt;
    opt.dim = dim_;
    opt.value_bytes = DataTypeSize(value_dtype_);
    opt.init_size = init_size_;
    if (num_shards_ > 0) opt.num_shards = static_cast<int>(num_shards_);
    opt.bounds = bounds_;
    TF_RETURN_IF_ERROR(AccumFnFor(value_dtype_, &opt.accum));
    std::unique_ptr<tc::TableBase> table;
    switch (key_dtype_) {
      case DT_INT64: TF_RETURN_IF_ERROR(MakeCpuTable<int64_t>(opt, &table)); break;
      case DT_INT32: TF_RETURN_IF_ERROR(MakeCpuTable<int32_t>(opt, &table)); break;
      case DT_STRING: TF_RETURN_IF_ERROR(MakeCpuTable<std::string>(opt, &table)); break;
      default:
        return errors::InvalidArgument("key_dtype ", DataTypeString(key_dtype_),
                                       " is not supported");
    }
    *ret = new TableResource(key_dtype_, value_dtype_, dim_, std::move(table));
    return absl::OkStatus();
  }

  mutex mu_;
  ResourceHandle handle_ TF_GUARDED_BY(mu_);
  bool handle_set_ TF_GUARDED_BY(mu_) = false;
  DataType key_dtype_, value_dtype_;
  int64_t dim_ = 0, init_size_ = 0, num_shards_ = 0;
  tc::TableBounds bounds_;
  bool use_node_name_sharing_ = false;
  bool anonymous_ = false;
};

// Find / FindWithExists: inputs (table, keys, default_value).
template <typename TK, bool kWithExists>
class FindOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, DataTypeToEnum<TK>::value, 2, "default_value", &table));
    const Tensor& keys = ctx->input(1);
    const Tensor& defaults = ctx->input(2);
    const TensorShape out_shape = ValueShapeFor(keys, table->dim());
    const bool per_key = defaults.dims() > 1 || keys.dims() == 0;
    if (per_key) {
      OP_REQUIRES_OK(ctx, CheckShape("default_value", defaults, out_shape,
                                     "per-key defaults are keys.shape + [dim]"));
    } else {
      OP_REQUIRES_OK(ctx, CheckShape("default_value", defaults,
                                     TensorShape({table->dim()}),
                                     "a default row is [dim]"));
    }
    Tensor* values;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &values));
    bool* exists_ptr = nullptr;
    if (kWithExists) {
      Tensor* exists;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(1, keys.shape(), &exists));
      exists_ptr = exists->flat<bool>().data();
    }
    const KeyArgs<TK> args(keys);
    OP_REQUIRES_OK(ctx, ToTfStatus(table->typed<TK>()->find(
                            args.data(), keys.NumElements(),
                            const_cast<char*>(values->tensor_data().data()),
                            defaults.tensor_data().data(), per_key, exists_ptr,
                            MakeParallelFor(ctx))));
  }
};

// Input 0 is the table, input 1 the keys and input 2 (argument `rows_arg`)
// the rows, which must be keys.shape + [dim] of the table's value dtype.
template <typename TK>
absl::Status TableWithRows(OpKernelContext* ctx, const char* rows_arg,
                           core::RefCountPtr<TableResource>* table) {
  TF_RETURN_IF_ERROR(
      GetTable(ctx, DataTypeToEnum<TK>::value, 2, rows_arg, table));
  return CheckShape(rows_arg, ctx->input(2),
                    ValueShapeFor(ctx->input(1), (*table)->dim()),
                    "keys.shape + [dim]");
}

// Import: replaces the whole content; inputs (table, keys, values).
template <typename TK>
class ImportOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, TableWithRows<TK>(ctx, "values", &table));
    const Tensor& keys = ctx->input(1);
    const KeyArgs<TK> args(keys);
    OP_REQUIRES_OK(ctx, ToTfStatus(table->typed<TK>()->import_replace(
                            args.data(), keys.NumElements(),
                            ctx->input(2).tensor_data().data())));
  }
};

// Writes the keys a bounded table refused or evicted to output 0.
template <typename TK>
absl::Status OutputDropped(OpKernelContext* ctx,
                           const std::vector<KeyStorage<TK>>& dropped) {
  Tensor* out;
  TF_RETURN_IF_ERROR(ctx->allocate_output(
      0, TensorShape({static_cast<int64_t>(dropped.size())}), &out));
  CopyKeys<TK>(dropped.data(), dropped.size(), out->flat<TK>().data());
  return absl::OkStatus();
}

// Insert (insert-or-assign) and Accum: inputs (table, keys, rows, extra),
// where extra is the scores for Insert (empty, or keys.shape int64 for the
// custom eviction policy) and the exists mask for Accum; output the keys a
// bounded table refused or evicted.
template <typename TK, bool kAccum>
class WriteOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, TableWithRows<TK>(
                            ctx, kAccum ? "values_or_deltas" : "values", &table));
    const Tensor& keys = ctx->input(1);
    const Tensor& extra = ctx->input(3);
    // An empty scores vector means "no scores".
    const bool has_extra = kAccum || extra.NumElements() > 0;
    if (has_extra) {
      OP_REQUIRES_OK(ctx, CheckShape(kAccum ? "exists" : "scores", extra,
                                     keys.shape(),
                                     kAccum ? "keys.shape" : "keys.shape (or empty)"));
    }
    const KeyArgs<TK> args(keys);
    const char* rows = ctx->input(2).tensor_data().data();
    CoreTable<TK>* t = table->typed<TK>();
    std::vector<KeyStorage<TK>> dropped;
    tc::Status status;
    if constexpr (kAccum) {
      status = t->accum(args.data(), keys.NumElements(), rows,
                        extra.flat<bool>().data(), &dropped,
                        MakeParallelFor(ctx));
    } else {
      status = t->insert(args.data(), keys.NumElements(), rows,
                         has_extra ? extra.flat<int64_t>().data() : nullptr,
                         &dropped, MakeParallelFor(ctx));
    }
    OP_REQUIRES_OK(ctx, ToTfStatus(status));
    OP_REQUIRES_OK(ctx, OutputDropped<TK>(ctx, dropped));
  }
};

template <typename TK>
class RemoveOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, DataTypeToEnum<TK>::value, &table));
    const Tensor& keys = ctx->input(1);
    const KeyArgs<TK> args(keys);
    OP_REQUIRES_OK(ctx, ToTfStatus(table->typed<TK>()->remove(
                            args.data(), keys.NumElements(), MakeParallelFor(ctx))));
  }
};

class ClearOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, DT_INVALID, &table));
    table->base()->clear();
  }
};

class SizeOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, DT_INVALID, &table));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
    out->scalar<int64_t>()() = table->base()->size();
  }
};

template <typename TK>
class ExportOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTable(ctx, DataTypeToEnum<TK>::value, &table));
    RowOutputs<TK> out(ctx, table.get(), /*num_columns=*/0);
    OP_REQUIRES_OK(ctx, ExportAllRows<TK>(table.get(), &out));
  }
};

REGISTER_KERNEL_BUILDER(Name("TFRA>CuckooHashTableOfTensors").Device(DEVICE_CPU),
                        HashTableOp);
REGISTER_KERNEL_BUILDER(Name("TFRA>CuckooHashTableClear").Device(DEVICE_CPU), ClearOp);
REGISTER_KERNEL_BUILDER(Name("TFRA>CuckooHashTableSize").Device(DEVICE_CPU), SizeOp);

#define TFRA_REGISTER_KV(K, V)                                                  \
  TFRA_REGISTER_KV_KERNEL("TFRA>CuckooHashTableFind", "Tin", "Tout", K, V,       \
                          FindOp<K, false>)                                     \
  TFRA_REGISTER_KV_KERNEL("TFRA>CuckooHashTableFindWithExists", "Tin", "Tout",  \
                          K, V, FindOp<K, true>)                                \
  TFRA_REGISTER_KV_KERNEL("TFRA>CuckooHashTableInsert", "Tin", "Tout", K, V,    \
                          WriteOp<K, false>)                                    \
  TFRA_REGISTER_KV_KERNEL("TFRA>CuckooHashTableAccum", "key_dtype",             \
                          "value_dtype", K, V, WriteOp<K, true>)                \
  TFRA_REGISTER_KV_KERNEL("TFRA>CuckooHashTableRemove", "Tin", "Tout", K, V,    \
                          RemoveOp<K>)                                          \
  TFRA_REGISTER_KV_KERNEL("TFRA>CuckooHashTableExport", "Tkeys", "Tvalues", K,  \
                          V, ExportOp<K>)                                       \
  TFRA_REGISTER_KV_KERNEL("TFRA>CuckooHashTableImport", "Tin", "Tout", K, V,    \
                          ImportOp<K>)

TFRA_FOR_EACH_KEY_VALUE_TYPE(TFRA_REGISTER_KV)
#undef TFRA_REGISTER_KV

}  // namespace
}  // namespace tfra_ops
}  // namespace tensorflow

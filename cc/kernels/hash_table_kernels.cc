// OpKernels of the TFRA>HashTable* op family over the device-neutral table
// API (cc/core/table.h).
//
// One kernel class per operation, templated on the device and the key type:
// values are moved as opaque rows, so the eight value dtypes share one
// instantiation and differ only in the ValueType the table was created
// with. Tables are made by the backend factory (cc/core/table_factory.h)
// from the creation op's `backend` attr. Every
// kernel validates all inputs (dtypes against the table, shapes against
// keys.shape + [dim]) before calling the table, so bad input never
// half-applies a write.
#include <memory>

#include "cc/core/table_factory.h"
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

// Creates (or finds, by shared name) a table. Device-neutral: the resource
// handle is host memory on every device, the backend decides where rows go.
class HashTableOp : public OpKernel {
 public:
  explicit HashTableOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("key_dtype", &key_dtype_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("value_dtype", &value_dtype_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("init_size", &init_size_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("num_shards", &num_shards_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("use_node_name_sharing", &use_node_name_sharing_));
    OP_REQUIRES_OK(ctx, GetBounds(ctx, &bounds_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("backend", &backend_));
    // '' is the placement's own table (see the op's registration).
    if (backend_.empty()) {
      backend_ = ctx->device_type() == DeviceType(DEVICE_GPU) ? "gpu" : "cpu";
    }
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
      OP_REQUIRES_OK(ctx, Create(ctx, &table));
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
                              [this, ctx](TableResource** ret) {
                                return Create(ctx, ret);
                              }));
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
  absl::Status Create(OpKernelContext* ctx, TableResource** ret) {
    tc::TableOptions opt;
    // A device backend keeps TF's allocator of this op's device for its own
    // arrays (so TF's memory accounting sees them); the resource owns it.
    std::unique_ptr<tc::Allocator> storage;
    tc::MemorySpace space;
    if (tc::TableFactory::SpaceOf(backend_, &space) &&
        space == tc::MemorySpace::kDevice) {
      storage = std::make_unique<TfAllocator>(
          ctx->device()->GetAllocator(AllocatorAttributes()));
      opt.allocator = storage.get();
    }
    opt.dim = dim_;
    TF_RETURN_IF_ERROR(ValueTypeOf(value_dtype_, &opt.value_type));
    opt.init_size = init_size_;
    opt.num_shards = static_cast<int>(num_shards_);
    opt.bounds = bounds_;
    tc::KeyKind kind;
    switch (key_dtype_) {
      case DT_INT64: kind = tc::KeyKind::kInt64; break;
      case DT_INT32: kind = tc::KeyKind::kInt32; break;
      case DT_STRING: kind = tc::KeyKind::kString; break;
      default:
        return errors::InvalidArgument("key_dtype ", DataTypeString(key_dtype_),
                                       " is not supported");
    }
    std::unique_ptr<tc::TableBase> table;
    TF_RETURN_IF_ERROR(ToTfStatus(
        tc::TableFactory::Create(backend_, kind, opt, &table)));
    if (bounds_.tracking() && !table->bounded()) {
      return ToTfStatus(tc::MissingCapability(
          *table, "bounds (max_capacity, TTL, admission or track_changes)"));
    }
    *ret = new TableResource(key_dtype_, value_dtype_, dim_, std::move(table),
                             std::move(storage));
    return absl::OkStatus();
  }

  mutex mu_;
  ResourceHandle handle_ TF_GUARDED_BY(mu_);
  bool handle_set_ TF_GUARDED_BY(mu_) = false;
  DataType key_dtype_, value_dtype_;
  int64_t dim_ = 0, init_size_ = 0, num_shards_ = 0;
  tc::TableBounds bounds_;
  std::string backend_;
  bool use_node_name_sharing_ = false;
  bool anonymous_ = false;
};

// Find / FindWithExists: inputs (table, keys, default_value).
template <typename Device, typename TK, bool kWithExists>
class FindOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DataTypeToEnum<TK>::value, 2,
                                           "default_value", &table));
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
    const KernelExec<Device> exec(ctx);
    OP_REQUIRES_OK(ctx, ToTfStatus(table->typed<TK>()->find(
                            exec.get(), args.data(), keys.NumElements(),
                            const_cast<char*>(values->tensor_data().data()),
                            defaults.tensor_data().data(), per_key, exists_ptr)));
  }
};

// Input 0 is the table, input 1 the keys and input 2 (argument `rows_arg`)
// the rows, which must be keys.shape + [dim] of the table's value dtype.
template <typename Device, typename TK>
absl::Status TableWithRows(OpKernelContext* ctx, const char* rows_arg,
                           core::RefCountPtr<TableResource>* table) {
  TF_RETURN_IF_ERROR(GetTableOn<Device>(ctx, DataTypeToEnum<TK>::value, 2,
                                        rows_arg, table));
  return CheckShape(rows_arg, ctx->input(2),
                    ValueShapeFor(ctx->input(1), (*table)->dim()),
                    "keys.shape + [dim]");
}

// Import: replaces the whole content; inputs (table, keys, values).
template <typename Device, typename TK>
class ImportOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, (TableWithRows<Device, TK>(ctx, "values", &table)));
    const Tensor& keys = ctx->input(1);
    const KeyArgs<TK> args(keys);
    const KernelExec<Device> exec(ctx);
    OP_REQUIRES_OK(ctx, ToTfStatus(table->typed<TK>()->import_replace(
                            exec.get(), args.data(), keys.NumElements(),
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
//
// A table with the Bounded capability takes the evicting write (which also
// honours scores); any other backend takes the plain write, refuses scores
// (they only steer eviction) and drops nothing.
template <typename Device, typename TK, bool kAccum>
class WriteOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, (TableWithRows<Device, TK>(
                            ctx, kAccum ? "values_or_deltas" : "values", &table)));
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
    CoreBounded<TK>* bounded = t->as_bounded();
    const size_t n = keys.NumElements();
    const KernelExec<Device> exec(ctx);
    std::vector<KeyStorage<TK>> dropped;
    tc::Status status;
    if constexpr (kAccum) {
      const bool* exists = extra.flat<bool>().data();
      status = bounded != nullptr
                   ? bounded->accum_and_evict(exec.get(), args.data(), n, rows,
                                              exists, &dropped)
                   : t->accum(exec.get(), args.data(), n, rows, exists);
    } else {
      const int64_t* scores = has_extra ? extra.flat<int64_t>().data() : nullptr;
      if (bounded != nullptr) {
        status = bounded->insert_and_evict(exec.get(), args.data(), n, rows,
                                           scores, &dropped);
      } else {
        OP_REQUIRES(ctx, scores == nullptr,
                    ToTfStatus(tc::MissingCapability(
                        *t, "eviction scores (scores must be empty)")));
        status = t->insert_or_assign(exec.get(), args.data(), n, rows);
      }
    }
    OP_REQUIRES_OK(ctx, ToTfStatus(status));
    OP_REQUIRES_OK(ctx, OutputDropped<TK>(ctx, dropped));
  }
};

template <typename Device, typename TK>
class RemoveOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DataTypeToEnum<TK>::value, &table));
    const Tensor& keys = ctx->input(1);
    const KeyArgs<TK> args(keys);
    const KernelExec<Device> exec(ctx);
    OP_REQUIRES_OK(ctx, ToTfStatus(table->typed<TK>()->remove(
                            exec.get(), args.data(), keys.NumElements())));
  }
};

template <typename Device>
class ClearOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DT_INVALID, &table));
    const KernelExec<Device> exec(ctx);
    OP_REQUIRES_OK(ctx, ToTfStatus(table->base()->clear(exec.get())));
  }
};

// The row count is a host scalar on every device.
template <typename Device>
class SizeOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DT_INVALID, &table));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
    const KernelExec<Device> exec(ctx);
    out->scalar<int64_t>()() = table->base()->size(exec.get());
  }
};

template <typename Device, typename TK>
class ExportOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DataTypeToEnum<TK>::value, &table));
    const KernelExec<Device> exec(ctx);
    if constexpr (DeviceTraits<Device>::kSpace == tc::MemorySpace::kDevice) {
      OP_REQUIRES_OK(ctx, ExportDeviceRows<TK>(ctx, exec.get(), table.get()));
    } else {
      RowOutputs<TK> out(ctx, table.get(), /*num_columns=*/0);
      OP_REQUIRES_OK(ctx, ExportAllRows<TK>(exec.get(), table.get(), &out));
    }
  }
};

REGISTER_KERNEL_BUILDER(Name("TFRA>HashTableOfTensors").Device(DEVICE_CPU),
                        HashTableOp);
REGISTER_KERNEL_BUILDER(Name("TFRA>HashTableClear").Device(DEVICE_CPU),
                        ClearOp<CPUDevice>);
REGISTER_KERNEL_BUILDER(Name("TFRA>HashTableSize").Device(DEVICE_CPU),
                        SizeOp<CPUDevice>);

#define TFRA_REGISTER_KV(K, V)                                                 \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableFind", "Tin", "Tout", K, V,            \
                          FindOp<CPUDevice, K, false>)                         \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableFindWithExists", "Tin", "Tout", K, V,  \
                          FindOp<CPUDevice, K, true>)                          \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableInsert", "Tin", "Tout", K, V,          \
                          WriteOp<CPUDevice, K, false>)                        \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableAccum", "key_dtype", "value_dtype", K, \
                          V, WriteOp<CPUDevice, K, true>)                      \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableRemove", "Tin", "Tout", K, V,          \
                          RemoveOp<CPUDevice, K>)                              \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableExport", "Tkeys", "Tvalues", K, V,     \
                          ExportOp<CPUDevice, K>)                              \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableImport", "Tin", "Tout", K, V,          \
                          ImportOp<CPUDevice, K>)

TFRA_FOR_EACH_KEY_VALUE_TYPE(TFRA_REGISTER_KV)
#undef TFRA_REGISTER_KV

#if TFRA_WITH_CUDA
// The same kernels on DEVICE_GPU (int64 and int32 keys: the 'gpu' backend
// has no string keys). Tensors stay in device memory, except the size.
REGISTER_KERNEL_BUILDER(Name("TFRA>HashTableOfTensors")
                            .Device(DEVICE_GPU)
                            .TypeConstraint("key_dtype", {DT_INT64, DT_INT32}),
                        HashTableOp);
REGISTER_KERNEL_BUILDER(Name("TFRA>HashTableClear").Device(DEVICE_GPU),
                        ClearOp<GpuDevice>);
REGISTER_KERNEL_BUILDER(
    Name("TFRA>HashTableSize").Device(DEVICE_GPU).HostMemory("size"),
    SizeOp<GpuDevice>);

#define TFRA_REGISTER_GPU_KERNEL(op, kattr, vattr, K, V, ...) \
  REGISTER_KERNEL_BUILDER(Name(op)                            \
                              .Device(DEVICE_GPU)             \
                              .TypeConstraint<K>(kattr)       \
                              .TypeConstraint<V>(vattr),      \
                          __VA_ARGS__);
#define TFRA_REGISTER_GPU_KV(K, V)                                             \
  TFRA_REGISTER_GPU_KERNEL("TFRA>HashTableFind", "Tin", "Tout", K, V,          \
                           FindOp<GpuDevice, K, false>)                        \
  TFRA_REGISTER_GPU_KERNEL("TFRA>HashTableFindWithExists", "Tin", "Tout", K,   \
                           V, FindOp<GpuDevice, K, true>)                      \
  TFRA_REGISTER_GPU_KERNEL("TFRA>HashTableInsert", "Tin", "Tout", K, V,        \
                           WriteOp<GpuDevice, K, false>)                       \
  TFRA_REGISTER_GPU_KERNEL("TFRA>HashTableAccum", "key_dtype", "value_dtype",  \
                           K, V, WriteOp<GpuDevice, K, true>)                  \
  TFRA_REGISTER_GPU_KERNEL("TFRA>HashTableRemove", "Tin", "Tout", K, V,        \
                           RemoveOp<GpuDevice, K>)                             \
  TFRA_REGISTER_GPU_KERNEL("TFRA>HashTableExport", "Tkeys", "Tvalues", K, V,   \
                           ExportOp<GpuDevice, K>)                             \
  TFRA_REGISTER_GPU_KERNEL("TFRA>HashTableImport", "Tin", "Tout", K, V,        \
                           ImportOp<GpuDevice, K>)
TFRA_FOR_EACH_VALUE_TYPE(TFRA_REGISTER_GPU_KV, int64_t)
TFRA_FOR_EACH_VALUE_TYPE(TFRA_REGISTER_GPU_KV, int32)
#undef TFRA_REGISTER_GPU_KV
#undef TFRA_REGISTER_GPU_KERNEL
#endif  // TFRA_WITH_CUDA

}  // namespace
}  // namespace tfra_ops
}  // namespace tensorflow

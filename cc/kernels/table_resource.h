// TableResource: the TF resource that owns one table backend.
//
// The resource records the key dtype, value dtype and dim fixed at creation;
// every kernel checks its inputs against them before touching the table, so
// a mismatch is an InvalidArgument naming the argument and the table is left
// unchanged. The backend is held through tfra::core::TableBase and downcast
// to Table<K> after the key dtype check.
//
// Devices: every table kernel is a template on the TF device type and gets
// the device's execution context (thread pool, or stream and allocator)
// from DeviceTraits<Device>; GetTable<Device> refuses a table whose buffers
// live in another memory space than the device's (FailedPrecondition naming
// the backend), so a kernel never hands host pointers to a device table.
// DEVICE_CPU kernels are always registered (TFRA_REGISTER_KV_KERNEL); an op
// library built with CUDA (TFRA_WITH_CUDA) registers the same kernels on
// DEVICE_GPU for GpuDevice, whose execution context is the op's stream and
// the device's allocator (gpu_table_kernels.cc).
//
// Key adaptation: int32/int64 key tensors are passed to the core as they are
// (TF's int64 is int64_t). String keys (tstring) are viewed as
// std::string_view without copying the bytes; embedded NUL bytes are kept.
#ifndef TFRA_CC_KERNELS_TABLE_RESOURCE_H_
#define TFRA_CC_KERNELS_TABLE_RESOURCE_H_

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cc/core/status.h"
#include "cc/core/capabilities.h"
#include "cc/core/table.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/platform/threadpool.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {
namespace tfra_ops {

// Maps a TF key type to the core's storage type.
template <typename TK>
struct KeyTypes {
  using Storage = TK;
};
template <>
struct KeyTypes<tstring> {
  using Storage = std::string;
};
template <typename TK>
using KeyStorage = typename KeyTypes<TK>::Storage;
template <typename TK>
using CoreTable = ::tfra::core::Table<KeyStorage<TK>>;
template <typename TK>
using CoreBounded = ::tfra::core::Bounded<KeyStorage<TK>>;

using CPUDevice = Eigen::ThreadPoolDevice;


class TableResource : public ResourceBase {
 public:
  // storage_allocator: the allocator a device backend's table keeps for its
  // own arrays (declared before the table, so it outlives it); may be null.
  TableResource(DataType key_dtype, DataType value_dtype, int64_t dim,
                std::unique_ptr<::tfra::core::TableBase> table,
                std::unique_ptr<::tfra::core::Allocator> storage_allocator =
                    nullptr)
      : key_dtype_(key_dtype), value_dtype_(value_dtype), dim_(dim),
        storage_allocator_(std::move(storage_allocator)),
        table_(std::move(table)) {}

  DataType key_dtype() const { return key_dtype_; }
  DataType value_dtype() const { return value_dtype_; }
  int64_t dim() const { return dim_; }
  ::tfra::core::TableBase* base() { return table_.get(); }

  template <typename TK>
  CoreTable<TK>* typed() {
    return static_cast<CoreTable<TK>*>(table_.get());
  }

  std::string DebugString() const override {
    return absl::StrCat("TFRA hash table <", DataTypeString(key_dtype_), ", ",
                        DataTypeString(value_dtype_), "[", dim_, "]> on the '",
                        table_->backend(), "' backend");
  }
  int64_t MemoryUsed() const override {
    return static_cast<int64_t>(table_->allocated_bytes());
  }

 private:
  DataType key_dtype_;
  DataType value_dtype_;
  int64_t dim_;
  std::unique_ptr<::tfra::core::Allocator> storage_allocator_;
  std::unique_ptr<::tfra::core::TableBase> table_;
};

// Converts a core status into a TF status (same canonical codes).
absl::Status ToTfStatus(const ::tfra::core::Status& s);

// The core's value type of a TF dtype (InvalidArgument naming value_dtype
// when the core has none).
absl::Status ValueTypeOf(DataType dt, ::tfra::core::ValueType* out);

// The intra-op thread pool of the kernel's device as a core ParallelFor.
::tfra::core::ParallelFor MakeParallelFor(OpKernelContext* ctx);

// TF's allocator for the kernel's device behind the core's Allocator seam.
class TfAllocator : public ::tfra::core::Allocator {
 public:
  explicit TfAllocator(tensorflow::Allocator* a) : a_(a) {}
  void* allocate(size_t bytes, size_t alignment) override {
    return a_->AllocateRaw(alignment, bytes);
  }
  void deallocate(void* ptr) override { a_->DeallocateRaw(ptr); }

 private:
  tensorflow::Allocator* a_;
};

// What a device gives the core: its memory space and, per kernel call, an
// execution context (kept alive with the allocator it points to).
template <typename Device>
struct DeviceTraits;

template <>
struct DeviceTraits<CPUDevice> {
  static constexpr ::tfra::core::MemorySpace kSpace =
      ::tfra::core::MemorySpace::kHost;
  static const char* Name() { return "CPU"; }
};

#if TFRA_WITH_CUDA
// The GPU kernels' device tag (Eigen's GpuDevice would pull CUDA headers
// into every kernel file; the kernels only need the stream).
struct GpuDevice {};

template <>
struct DeviceTraits<GpuDevice> {
  static constexpr ::tfra::core::MemorySpace kSpace =
      ::tfra::core::MemorySpace::kDevice;
  static const char* Name() { return "GPU"; }
};

// The CUDA stream of the op (cudaStream_t as void*), from TF's stream
// executor (gpu_stream.cc).
void* OpStream(OpKernelContext* ctx);

// Copies between host and device memory on the op's stream and waits for
// the copy (gpu_stream.cc): device backends' staging in ExecContext.
::tfra::core::Status CopyToHost(OpKernelContext* ctx, void* host_dst,
                                const void* device_src, size_t bytes);
::tfra::core::Status CopyFromHost(OpKernelContext* ctx, void* device_dst,
                                  const void* host_src, size_t bytes);

// Pinned host memory, which the GPU can DMA from and to.
inline AllocatorAttributes PinnedHost() {
  AllocatorAttributes a;
  a.set_on_host(true);
  a.set_gpu_compatible(true);
  return a;
}
#endif  // TFRA_WITH_CUDA

template <typename Device>
class KernelExec {
 public:
  explicit KernelExec(OpKernelContext* ctx)
      : allocator_(ctx->device()->GetAllocator(AllocatorAttributes())),
        host_allocator_(nullptr) {
    exec_.parallel_for = MakeParallelFor(ctx);
    exec_.allocator = &allocator_;
#if TFRA_WITH_CUDA
    if constexpr (DeviceTraits<Device>::kSpace ==
                  ::tfra::core::MemorySpace::kDevice) {
      exec_.stream = OpStream(ctx);
      exec_.to_host = [ctx](void* dst, const void* src, size_t bytes) {
        return CopyToHost(ctx, dst, src, bytes);
      };
      exec_.from_host = [ctx](void* dst, const void* src, size_t bytes) {
        return CopyFromHost(ctx, dst, src, bytes);
      };
      host_allocator_ = TfAllocator(ctx->device()->GetAllocator(PinnedHost()));
      exec_.host_allocator = &host_allocator_;
    }
#endif
  }
  KernelExec(const KernelExec&) = delete;
  KernelExec& operator=(const KernelExec&) = delete;
  const ::tfra::core::ExecContext& get() const { return exec_; }

 private:
  TfAllocator allocator_;
  TfAllocator host_allocator_;
  ::tfra::core::ExecContext exec_;
};

// The Bounded<K> capability of a table, or FailedPrecondition naming the
// backend and `what` needed it.
template <typename TK>
absl::Status BoundedOf(TableResource* table, const char* what,
                       CoreBounded<TK>** out) {
  *out = table->typed<TK>()->as_bounded();
  if (*out != nullptr) return absl::OkStatus();
  return ToTfStatus(::tfra::core::MissingCapability(
      *table->base(), std::string("bounds or change tracking (needed by ") +
                          what + ")"));
}

// Key arguments for the core: a zero-copy pointer for integer keys, an
// array of string_views for string keys.
template <typename TK>
class KeyArgs {
 public:
  explicit KeyArgs(const Tensor& keys) : ptr_(keys.flat<TK>().data()) {}
  const TK* data() const { return ptr_; }

 private:
  const TK* ptr_;
};
template <>
class KeyArgs<tstring> {
 public:
  explicit KeyArgs(const Tensor& keys) {
    auto flat = keys.flat<tstring>();
    views_.reserve(flat.size());
    for (int64_t i = 0; i < flat.size(); ++i) {
      views_.emplace_back(flat(i).data(), flat(i).size());
    }
  }
  const std::string_view* data() const { return views_.data(); }

 private:
  std::vector<std::string_view> views_;
};

// Copies core keys into a key tensor's buffer.
template <typename TK>
void CopyKeys(const KeyStorage<TK>* src, size_t n, TK* dst) {
  std::copy(src, src + n, dst);
}
template <>
inline void CopyKeys<tstring>(const std::string* src, size_t n, tstring* dst) {
  for (size_t i = 0; i < n; ++i) dst[i].assign(src[i].data(), src[i].size());
}

// The value dtypes every table op supports: calls m(K, V) for each V.
#define TFRA_FOR_EACH_VALUE_TYPE(m, K) \
  m(K, float) m(K, Eigen::half) m(K, bfloat16) m(K, double) m(K, int8) \
  m(K, int32) m(K, int64_t) m(K, bool)

// The key dtypes: calls TFRA_FOR_EACH_VALUE_TYPE(m, K) for each K.
#define TFRA_FOR_EACH_KEY_VALUE_TYPE(m)                     \
  TFRA_FOR_EACH_VALUE_TYPE(m, int64_t)                      \
  TFRA_FOR_EACH_VALUE_TYPE(m, int32)                        \
  TFRA_FOR_EACH_VALUE_TYPE(m, tstring)

// Registers the CPU kernel `...` for `op`, constrained to key type K on the
// attr `kattr` and value type V on `vattr`. The kernel class is a template
// whose first argument is the device; `...` names it with CPUDevice.
#define TFRA_REGISTER_KV_KERNEL(op, kattr, vattr, K, V, ...) \
  REGISTER_KERNEL_BUILDER(Name(op)                           \
                              .Device(DEVICE_CPU)            \
                              .TypeConstraint<K>(kattr)      \
                              .TypeConstraint<V>(vattr),     \
                          __VA_ARGS__);

// Looks up the table behind input 0 and checks that the kernel's key type and
// the dtype of input `value_input` (if >= 0; the op argument `value_arg`)
// match the table's dtypes.
absl::Status GetTable(OpKernelContext* ctx, DataType key_dtype,
                      int value_input, const char* value_arg,
                      core::RefCountPtr<TableResource>* out);
inline absl::Status GetTable(OpKernelContext* ctx, DataType key_dtype,
                             core::RefCountPtr<TableResource>* out) {
  return GetTable(ctx, key_dtype, -1, nullptr, out);
}

// FailedPrecondition unless the table's buffers live where `device_space`
// (the running kernel's device) can address them.
absl::Status CheckSpace(const TableResource& table,
                        ::tfra::core::MemorySpace device_space,
                        const char* device_name);

// GetTable for a kernel running on Device.
template <typename Device>
absl::Status GetTableOn(OpKernelContext* ctx, DataType key_dtype,
                        int value_input, const char* value_arg,
                        core::RefCountPtr<TableResource>* out) {
  TF_RETURN_IF_ERROR(GetTable(ctx, key_dtype, value_input, value_arg, out));
  return CheckSpace(**out, DeviceTraits<Device>::kSpace,
                    DeviceTraits<Device>::Name());
}
template <typename Device>
absl::Status GetTableOn(OpKernelContext* ctx, DataType key_dtype,
                        core::RefCountPtr<TableResource>* out) {
  return GetTableOn<Device>(ctx, key_dtype, -1, nullptr, out);
}

// keys.shape + [dim], the shape every value tensor paired with keys must have.
TensorShape ValueShapeFor(const Tensor& keys, int64_t dim);

// Fails with InvalidArgument naming `arg` unless `t` has shape `expected`.
absl::Status CheckShape(const char* arg, const Tensor& t,
                        const TensorShape& expected, const char* why);

}  // namespace tfra_ops
}  // namespace tensorflow

#endif  // TFRA_CC_KERNELS_TABLE_RESOURCE_H_

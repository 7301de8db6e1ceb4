// Registers the CUDA hash table (gpu_hash_table.h) as table backend "gpu":
// device memory, no optional capability yet (bounded tables with row
// bookkeeping, snapshots and the admission sketch are the CPU table's; the
// GPU core's own fixed-capacity eviction is reached through
// TableBounds::max_capacity without tracking). Keys: int64 and int32 (a
// string key table is refused: the GPU core has no string key storage).
// Plain C++: the CUDA code stays in gpu_hash_table.cu, behind its header.
#include <cstring>
#include <memory>
#include <string>

#include "cc/core/gpu/gpu_hash_table.h"
#include "cc/core/table_factory.h"

namespace tfra {
namespace core {
namespace gpu {
namespace {

template <typename K>
class GpuTable final : public Table<K> {
 public:
  using Arg = typename Table<K>::Arg;

  explicit GpuTable(std::unique_ptr<GpuHashTable<K>> core)
      : core_(std::move(core)) {}

  const char* backend() const override { return "gpu"; }
  MemorySpace memory_space() const override { return MemorySpace::kDevice; }
  int64_t dim() const override { return core_->dim(); }
  ValueType value_type() const override { return core_->value_type(); }
  size_t allocated_bytes() const override { return core_->allocated_bytes(); }

  // A CUDA error here leaves the size at -1; the stream's sticky error is
  // reported by the next call that returns a Status.
  int64_t size(const ExecContext& ctx) const override {
    int64_t n = -1;
    return core_->size(ctx.stream, &n).ok() ? n : -1;
  }

  Status clear(const ExecContext& ctx) override { return core_->clear(ctx.stream); }

  Status find(const ExecContext& ctx, const Arg* keys, size_t n, char* values,
              const char* defaults, bool per_key_defaults,
              bool* exists) const override {
    return core_->find(ctx.stream, keys, n, values, defaults, per_key_defaults,
                       exists);
  }

  Status insert_or_assign(const ExecContext& ctx, const Arg* keys, size_t n,
                          const char* values) override {
    return core_->insert_or_assign(ctx.stream, keys, n, values, nullptr,
                                   nullptr, nullptr);
  }

  Status accum(const ExecContext& ctx, const Arg* keys, size_t n,
               const char* values_or_deltas, const bool* exists) override {
    return core_->accum(ctx.stream, keys, n, values_or_deltas, exists, nullptr,
                        nullptr);
  }

  Status remove(const ExecContext& ctx, const Arg* keys, size_t n) override {
    return core_->remove(ctx.stream, keys, n);
  }

  // Device pages: keys/values are device buffers; metas (device, if given)
  // are not kept by this backend and come back zeroed.
  Status export_batch(const ExecContext& ctx, uint64_t cursor, size_t max_rows,
                      K* keys, char* values, RowMeta* metas, size_t* count,
                      uint64_t* next_cursor) const override {
    TFRA_CORE_RETURN_IF_ERROR(core_->export_batch(
        ctx.stream, cursor, max_rows, keys, values, nullptr, count,
        next_cursor));
    return metas == nullptr
               ? Status::OK()
               : ZeroDeviceMemory(ctx.stream, metas, *count * sizeof(RowMeta));
  }

  // Clear, then insert: only the end state is promised (no Snapshots).
  Status import_replace(const ExecContext& ctx, const Arg* keys, size_t n,
                        const char* values) override {
    TFRA_CORE_RETURN_IF_ERROR(core_->clear(ctx.stream));
    return core_->insert_or_assign(ctx.stream, keys, n, values, nullptr,
                                   nullptr, nullptr);
  }

 private:
  std::unique_ptr<GpuHashTable<K>> core_;
};

template <typename K>
Status MakeTyped(const TableOptions& options, std::unique_ptr<TableBase>* out) {
  GpuTableOptions o;
  o.dim = options.dim;
  o.value_type = options.value_type;
  o.init_capacity = options.init_size > 0
                        ? static_cast<uint64_t>(options.init_size)
                        : o.init_capacity;
  const TableBounds& b = options.bounds;
  if (b.ttl > 0 || b.admit_after > 1 || b.policy == EvictPolicy::kTtl) {
    return FailedPrecondition(
        "the 'gpu' table backend has no TTL or admission (use the 'cpu' "
        "backend for those bounds)");
  }
  o.max_capacity = b.max_capacity > 0 ? static_cast<uint64_t>(b.max_capacity) : 0;
  o.policy = b.policy == EvictPolicy::kLfu      ? GpuEvictPolicy::kLfu
             : b.policy == EvictPolicy::kCustom ? GpuEvictPolicy::kCustom
                                                : GpuEvictPolicy::kLru;
  std::unique_ptr<GpuHashTable<K>> core;
  // Creation runs on the null stream (a table is created once, before use).
  TFRA_CORE_RETURN_IF_ERROR(
      GpuHashTable<K>::Create(o, options.allocator, nullptr, &core));
  *out = std::make_unique<GpuTable<K>>(std::move(core));
  return Status::OK();
}

Status MakeGpuTable(KeyKind key_kind, const TableOptions& options,
                    std::unique_ptr<TableBase>* out) {
  switch (key_kind) {
    case KeyKind::kInt64: return MakeTyped<int64_t>(options, out);
    case KeyKind::kInt32: return MakeTyped<int32_t>(options, out);
    case KeyKind::kString:
      return InvalidArgument(
          "key_dtype: the 'gpu' table backend takes int64 or int32 keys, not "
          "string (hash strings to int64 first, or use the 'cpu' backend)");
  }
  return InvalidArgument("key_dtype: unsupported key kind");
}

}  // namespace

TFRA_REGISTER_TABLE_BACKEND("gpu", MemorySpace::kDevice, &MakeGpuTable);

}  // namespace gpu
}  // namespace core
}  // namespace tfra

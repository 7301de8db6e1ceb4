// Host side of the CUDA hash table (design: gpu_hash_table.h; kernels:
// gpu_table_kernels.cuh; warp-level helpers: gpu_kernels.cuh). Every kernel runs on the stream the
// caller gives; grid-stride loops put one warp on one key (or one thread on
// one slot for whole-table scans).
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "cc/core/gpu/cuda_status.cuh"
#include "cc/core/gpu/gpu_hash_table.h"
#include "cc/core/gpu/gpu_kernels.cuh"
#include "cc/core/gpu/gpu_table_kernels.cuh"

namespace tfra {
namespace core {
namespace gpu {

using namespace kernels;  // NOLINT: this file's own device helpers

namespace {

Status CudaStatus(cudaError_t e, const char* what) {
  return gpu::CudaStatus(e, "gpu table", what);
}

int CopyWord(size_t row_bytes) {
  return row_bytes % 4 == 0 ? 4 : row_bytes % 2 == 0 ? 2 : 1;
}

// Blocks for one warp per key, capped (grid-stride loops cover the rest).
unsigned WarpGrid(size_t n) {
  const size_t warps_per_block = kBlock / kWarp;
  return static_cast<unsigned>(
      std::min<size_t>((n + warps_per_block - 1) / warps_per_block, 65535));
}

unsigned ThreadGrid(uint64_t n) {
  return static_cast<unsigned>(
      std::min<uint64_t>((n + kBlock - 1) / kBlock, 65535));
}

}  // namespace

// ---- host side ----

template <typename K>
GpuHashTable<K>::GpuHashTable(const GpuTableOptions& options,
                              Allocator* allocator)
    : options_(options),
      row_bytes_(static_cast<size_t>(options.dim) *
                 ValueTypeSize(options.value_type)),
      allocator_(allocator) {}

template <typename K>
Status GpuHashTable<K>::Create(const GpuTableOptions& options,
                               Allocator* allocator, void* stream,
                               std::unique_ptr<GpuHashTable>* out) {
  if (options.dim <= 0) {
    return InvalidArgument("dim: must be positive, got " +
                           std::to_string(options.dim));
  }
  if (!ValidValueType(options.value_type)) {
    return InvalidArgument("value_type: not a known value type");
  }
  if (allocator == nullptr) {
    return InvalidArgument("allocator: the GPU table needs a device allocator");
  }
  if (!(options.max_load_factor > 0.0 && options.max_load_factor <= 1.0)) {
    return InvalidArgument("max_load_factor: must be in (0, 1]");
  }
  const uint64_t wanted =
      options.max_capacity > 0 ? options.max_capacity
                               : std::max<uint64_t>(options.init_capacity, 1);
  uint64_t buckets = 1;
  while (buckets * kBucketSlots < wanted) buckets *= 2;
  std::unique_ptr<GpuHashTable> table(new GpuHashTable(options, allocator));
  void* counters = allocator->allocate(sizeof(unsigned long long), 256);
  if (counters == nullptr) {
    return ResourceExhausted("gpu table: cannot allocate its row counter");
  }
  table->counters_ = static_cast<unsigned long long*>(counters);
  TFRA_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(counters, 0, sizeof(unsigned long long), AsStream(stream)),
      "clearing the row counter");
  TFRA_CORE_RETURN_IF_ERROR(table->AllocateSlots(buckets, stream, &table->slots_));
  // The arrays are cleared before the first call on any stream uses them.
  TFRA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(AsStream(stream)),
                            "waiting for the new table");
  *out = std::move(table);
  return Status::OK();
}

template <typename K>
GpuHashTable<K>::~GpuHashTable() {
  // Kernels of earlier calls may still run on some stream.
  cudaDeviceSynchronize();
  FreeSlots(&slots_);
  if (counters_ != nullptr) allocator_->deallocate(counters_);
}

template <typename K>
Status GpuHashTable<K>::AllocateSlots(uint64_t num_buckets, void* stream,
                                      GpuSlots<K>* s) {
  const uint64_t slots = num_buckets * kBucketSlots;
  GpuSlots<K> fresh;
  fresh.num_buckets = num_buckets;
  struct Part { void** ptr; size_t bytes; };
  Part parts[] = {
      {reinterpret_cast<void**>(&fresh.digests), slots},
      {reinterpret_cast<void**>(&fresh.keys), slots * sizeof(K)},
      {reinterpret_cast<void**>(&fresh.versions), slots * sizeof(uint32_t)},
      {reinterpret_cast<void**>(&fresh.stamps), slots * sizeof(uint64_t)},
      {reinterpret_cast<void**>(&fresh.scores), slots * sizeof(uint64_t)},
      {reinterpret_cast<void**>(&fresh.values), slots * row_bytes_},
      {reinterpret_cast<void**>(&fresh.bucket_locks), num_buckets * sizeof(uint32_t)},
  };
  for (Part& p : parts) {
    *p.ptr = allocator_->allocate(p.bytes, 256);
    if (*p.ptr == nullptr) {
      FreeSlots(&fresh);
      return ResourceExhausted("gpu table: cannot allocate " +
                               std::to_string(slots) + " slots (" +
                               std::to_string(p.bytes) + " bytes)");
    }
  }
  cudaStream_t st = AsStream(stream);
  // Digests 0 (empty), versions and locks 0; keys/values/stamps/scores are
  // written before a slot's digest says it is occupied.
  cudaError_t e = cudaMemsetAsync(fresh.digests, 0, slots, st);
  if (e == cudaSuccess) {
    e = cudaMemsetAsync(fresh.versions, 0, slots * sizeof(uint32_t), st);
  }
  if (e == cudaSuccess) {
    e = cudaMemsetAsync(fresh.stamps, 0, slots * sizeof(uint64_t), st);
  }
  if (e == cudaSuccess) {
    e = cudaMemsetAsync(fresh.bucket_locks, 0, num_buckets * sizeof(uint32_t), st);
  }
  if (e != cudaSuccess) {
    FreeSlots(&fresh);
    return CudaStatus(e, "clearing new slots");
  }
  *s = fresh;
  return Status::OK();
}

template <typename K>
void GpuHashTable<K>::FreeSlots(GpuSlots<K>* s) {
  void* ptrs[] = {s->digests, s->keys, s->versions, s->stamps,
                  s->scores, s->values, s->bucket_locks};
  for (void* p : ptrs) {
    if (p != nullptr) allocator_->deallocate(p);
  }
  *s = GpuSlots<K>();
}

template <typename K>
uint64_t GpuHashTable<K>::capacity() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return slots_.slots();
}

template <typename K>
size_t GpuHashTable<K>::allocated_bytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return slots_.slots() * (1 + sizeof(K) + 4 + 8 + 8 + row_bytes_) +
         slots_.num_buckets * 4;
}

template <typename K>
Status GpuHashTable<K>::ReadCounter(void* stream, const unsigned long long* d,
                                    uint64_t* host) const {
  unsigned long long v = 0;
  TFRA_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(&v, d, sizeof(v), cudaMemcpyDeviceToHost, AsStream(stream)),
      "reading a counter");
  TFRA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(AsStream(stream)),
                            "waiting for the table's kernels");
  *host = v;
  return Status::OK();
}

template <typename K>
Status GpuHashTable<K>::find(void* stream, const K* keys, size_t n,
                             char* values, const char* defaults,
                             bool per_key_defaults, bool* exists) const {
  if (n == 0) return Status::OK();
  std::shared_lock<std::shared_mutex> lock(mu_);
  FindKernel<K><<<WarpGrid(n), kBlock, 0, AsStream(stream)>>>(
      slots_, keys, n, values, defaults, per_key_defaults, exists, row_bytes_,
      CopyWord(row_bytes_));
  return CudaStatus(cudaGetLastError(), "launching find");
}

template <typename K>
Status GpuHashTable<K>::Rehash(void* stream, uint64_t num_buckets) {
  // Caller holds mu_ exclusively, so no new kernel is enqueued; kernels
  // enqueued before on other streams must finish before the rows move.
  TFRA_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "waiting before a rehash");
  GpuSlots<K> bigger;
  TFRA_CORE_RETURN_IF_ERROR(AllocateSlots(num_buckets, stream, &bigger));
  auto* overflow = static_cast<unsigned long long*>(
      allocator_->allocate(sizeof(unsigned long long), 256));
  if (overflow == nullptr) {
    FreeSlots(&bigger);
    return ResourceExhausted("gpu table: cannot allocate a growth counter");
  }
  cudaStream_t st = AsStream(stream);
  cudaMemsetAsync(overflow, 0, sizeof(*overflow), st);
  RehashKernel<K><<<ThreadGrid(slots_.slots()), kBlock, 0, st>>>(
      slots_, bigger, overflow, row_bytes_);
  uint64_t lost = 0;
  Status s = CudaStatus(cudaGetLastError(), "launching the rehash");
  if (s.ok()) s = ReadCounter(stream, overflow, &lost);
  allocator_->deallocate(overflow);
  if (!s.ok() || lost > 0) {
    // The old arrays are untouched: keep them, and grow further if asked.
    FreeSlots(&bigger);
    return s.ok() ? Status(Code::kResourceExhausted, "gpu table: rehash overflow")
                  : s;
  }
  // Every stream's kernels on the old arrays must end before they are freed.
  TFRA_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "waiting before freeing");
  FreeSlots(&slots_);
  slots_ = bigger;
  return Status::OK();
}

template <typename K>
Status GpuHashTable<K>::GrowFor(void* stream, uint64_t rows) {
  // Caller holds mu_ exclusively.
  uint64_t buckets = slots_.num_buckets;
  while (static_cast<double>(rows) >
         options_.max_load_factor * static_cast<double>(buckets * kBucketSlots)) {
    buckets *= 2;
  }
  if (buckets == slots_.num_buckets) buckets *= 2;  // a bucket overflowed
  for (int attempt = 0; attempt < 4; ++attempt, buckets *= 2) {
    const Status s = Rehash(stream, buckets);
    if (s.ok()) return s;
    if (s.message() != "gpu table: rehash overflow") return s;
  }
  return ResourceExhausted("gpu table: rows keep overflowing their buckets "
                           "after growth (a hash quality problem?)");
}

template <typename K>
Status GpuHashTable<K>::Write(void* stream, const K* keys, size_t n,
                              const char* values, const uint64_t* scores,
                              const bool* exists, bool accum_inserts,
                              K* dropped_keys, size_t* host_num_dropped) {
  if (host_num_dropped != nullptr) *host_num_dropped = 0;
  if (n == 0) return Status::OK();
  const bool bounded = options_.max_capacity > 0;
  if (!bounded) {
    // Grow ahead of the write when it could pass the load factor.
    std::unique_lock<std::shared_mutex> lock(mu_);
    const double limit =
        options_.max_load_factor * static_cast<double>(slots_.slots());
    if (static_cast<double>(size_bound_ + n) > limit) {
      uint64_t rows = 0;
      TFRA_CORE_RETURN_IF_ERROR(ReadCounter(stream, counters_, &rows));
      size_bound_ = rows;
      if (static_cast<double>(rows + n) > limit) {
        TFRA_CORE_RETURN_IF_ERROR(GrowFor(stream, rows + n));
      }
    }
  }
  uint64_t call;
  {
    std::lock_guard<std::mutex> lock(calls_mu_);
    call = ++calls_;
  }
  auto* scratch = static_cast<unsigned long long*>(
      allocator_->allocate(3 * sizeof(unsigned long long), 256));
  if (scratch == nullptr) {
    return ResourceExhausted("gpu table: cannot allocate write counters");
  }
  cudaStream_t st = AsStream(stream);
  Status s;
  for (int round = 0; round < 8; ++round) {
    s = CudaStatus(cudaMemsetAsync(scratch, 0, 3 * sizeof(*scratch), st),
                   "clearing write counters");
    if (!s.ok()) break;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      WriteKernel<K><<<WarpGrid(n), kBlock, 0, st>>>(
          slots_, keys, n, values, scores, exists, accum_inserts, call,
          options_.policy, bounded, counters_, scratch, dropped_keys,
          row_bytes_, CopyWord(row_bytes_));
      s = CudaStatus(cudaGetLastError(), "launching a write");
    }
    if (!s.ok()) break;
    unsigned long long host[3] = {0, 0, 0};
    s = CudaStatus(cudaMemcpyAsync(host, scratch, sizeof(host),
                                   cudaMemcpyDeviceToHost, st),
                   "reading write counters");
    if (s.ok()) s = CudaStatus(cudaStreamSynchronize(st), "waiting for a write");
    if (!s.ok()) break;
    if (host_num_dropped != nullptr) *host_num_dropped = host[1];
    std::unique_lock<std::shared_mutex> lock(mu_);
    size_bound_ += n;
    if (host[2] == 0) break;
    // Some keys found their bucket full: grow and write the call again.
    // Rows already written carry this call's stamps, so the rerun keeps
    // last-wins (insert) and first-wins (accum inserts) as they were.
    uint64_t rows = 0;
    s = ReadCounter(stream, counters_, &rows);
    if (s.ok()) s = GrowFor(stream, rows + n);
    if (!s.ok()) break;
  }
  allocator_->deallocate(scratch);
  return s;
}

template <typename K>
Status GpuHashTable<K>::insert_or_assign(void* stream, const K* keys, size_t n,
                                         const char* values,
                                         const uint64_t* scores,
                                         K* dropped_keys,
                                         size_t* host_num_dropped) {
  return Write(stream, keys, n, values, scores, nullptr, false, dropped_keys,
               host_num_dropped);
}

template <typename K>
Status GpuHashTable<K>::accum(void* stream, const K* keys, size_t n,
                              const char* values_or_deltas, const bool* exists,
                              K* dropped_keys, size_t* host_num_dropped) {
  if (host_num_dropped != nullptr) *host_num_dropped = 0;
  if (n == 0) return Status::OK();
  if (exists == nullptr) return InvalidArgument("exists: accum needs the flags");
  TFRA_CORE_RETURN_IF_ERROR(Write(stream, keys, n, values_or_deltas, nullptr,
                                  exists, true, dropped_keys,
                                  host_num_dropped));
  uint64_t call;
  {
    std::lock_guard<std::mutex> lock(calls_mu_);
    call = ++calls_;
  }
  std::shared_lock<std::shared_mutex> lock(mu_);
  AddKernel<K><<<WarpGrid(n), kBlock, 0, AsStream(stream)>>>(
      slots_, keys, n, values_or_deltas, exists, call, options_.policy,
      options_.dim, options_.value_type, row_bytes_);
  return CudaStatus(cudaGetLastError(), "launching accum");
}

template <typename K>
Status GpuHashTable<K>::remove(void* stream, const K* keys, size_t n) {
  if (n == 0) return Status::OK();
  std::shared_lock<std::shared_mutex> lock(mu_);
  RemoveKernel<K><<<WarpGrid(n), kBlock, 0, AsStream(stream)>>>(
      slots_, keys, n, counters_);
  return CudaStatus(cudaGetLastError(), "launching remove");
}

template <typename K>
Status GpuHashTable<K>::size(void* stream, int64_t* host_size) const {
  uint64_t rows = 0;
  TFRA_CORE_RETURN_IF_ERROR(ReadCounter(stream, counters_, &rows));
  *host_size = static_cast<int64_t>(rows);
  return Status::OK();
}

template <typename K>
Status GpuHashTable<K>::clear(void* stream) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  // Writes enqueued on other streams before the clear land before it.
  TFRA_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), "waiting before clear");
  cudaStream_t st = AsStream(stream);
  TFRA_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(slots_.digests, 0, slots_.slots(), st),
                            "clearing digests");
  TFRA_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(counters_, 0, sizeof(unsigned long long), st),
      "clearing the row counter");
  size_bound_ = 0;
  return Status::OK();
}

template <typename K>
Status GpuHashTable<K>::export_batch(void* stream, uint64_t cursor,
                                     size_t max_rows, K* keys, char* values,
                                     uint64_t* scores, size_t* host_count,
                                     uint64_t* host_next_cursor) const {
  *host_count = 0;
  *host_next_cursor = 0;
  std::shared_lock<std::shared_mutex> lock(mu_);
  const uint64_t slots = slots_.slots();
  if (cursor >= slots || max_rows == 0) return Status::OK();
  const uint64_t end = std::min<uint64_t>(slots, cursor + max_rows);
  auto* count = static_cast<unsigned long long*>(
      allocator_->allocate(sizeof(unsigned long long), 256));
  if (count == nullptr) {
    return ResourceExhausted("gpu table: cannot allocate an export counter");
  }
  cudaStream_t st = AsStream(stream);
  Status s = CudaStatus(cudaMemsetAsync(count, 0, sizeof(*count), st),
                        "clearing the export counter");
  if (s.ok()) {
    ExportKernel<K><<<ThreadGrid(end - cursor), kBlock, 0, st>>>(
        slots_, cursor, end, keys, values, scores, count, row_bytes_);
    s = CudaStatus(cudaGetLastError(), "launching export");
  }
  uint64_t rows = 0;
  if (s.ok()) s = ReadCounter(stream, count, &rows);
  allocator_->deallocate(count);
  TFRA_CORE_RETURN_IF_ERROR(s);
  *host_count = rows;
  *host_next_cursor = end < slots ? end : 0;
  return Status::OK();
}

namespace {

class CudaMallocAllocator : public Allocator {
 public:
  void* allocate(size_t bytes, size_t) override {
    void* p = nullptr;
    return cudaMalloc(&p, std::max<size_t>(bytes, 1)) == cudaSuccess ? p : nullptr;
  }
  void deallocate(void* ptr) override { cudaFree(ptr); }
};

}  // namespace

std::unique_ptr<Allocator> NewCudaMallocAllocator() {
  return std::unique_ptr<Allocator>(new CudaMallocAllocator());
}

Status ZeroDeviceMemory(void* stream, void* ptr, size_t bytes) {
  if (bytes == 0) return Status::OK();
  return CudaStatus(cudaMemsetAsync(ptr, 0, bytes, AsStream(stream)),
                    "zeroing device memory");
}

bool GpuAvailable(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    if (why != nullptr) *why = cudaGetErrorString(e);
    return false;
  }
  if (count == 0) {
    if (why != nullptr) *why = "no CUDA device";
    return false;
  }
  return true;
}

template class GpuHashTable<int64_t>;
template class GpuHashTable<int32_t>;

}  // namespace gpu
}  // namespace core
}  // namespace tfra

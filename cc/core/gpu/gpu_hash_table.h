// The CUDA hash table core: a TF-free, CUDA-header-free C++ interface over
// the kernels in gpu_hash_table.cu, so TF kernels, the standalone test and
// the benchmark (cc/core/gpu/tests, cc/core/gpu/bench) all drive the same
// code through one small API taking the stream.
//
// Layout (structure of arrays in device memory, one slot = one row):
//   the table is num_buckets x kBucketSlots (128) slots; a key lives only in
//   its home bucket, bucket = (hash >> 8) & (num_buckets - 1), so a lookup
//   reads one bucket: its 128 one-byte digests (one 128-byte line), then the
//   keys whose digest matches.
//     digests  uint8  [slots]  0 empty, 1 busy (being claimed), 2..255 the
//                              key's 8-bit digest (hash & 0xff, lifted)
//     keys     K      [slots]  int64 or int32, every value a valid key (no
//                              reserved "empty key": the digest says empty)
//     versions uint32 [slots]  seqlock: odd while a writer owns the slot;
//                              readers copy, then re-check the version
//     stamps   uint64 [slots]  (call << 32) | (index in the call + 1) of the
//                              last write: a write lands only if its stamp
//                              is higher, so the last duplicate of a call
//                              wins whatever order the threads run in
//     scores   uint64 [slots]  eviction score: LRU the call number of the
//                              last write, LFU the write count, custom the
//                              caller's score
//     values   row_bytes x slots
//     bucket_locks uint32 [num_buckets]  held while claiming or emptying a
//                              slot, so one key never gets two slots
// Memory per slot: row_bytes + sizeof(K) + 21 bytes, plus 4 per bucket.
//
// Capacity: max_capacity 0 grows by doubling (a rehash into a new set of
// arrays) when the next write could push the load past max_load_factor or
// when a write finds its home bucket full; the keys it could not place are
// written again after the growth, so growth never loses an entry. With
// max_capacity > 0 the table has a fixed number of slots (max_capacity
// rounded up to whole buckets, a power of two) and a new key in a full
// bucket evicts the bucket's lowest-score row (custom policy: unless the new
// key's score is lower, then the new key is refused); evicted and refused
// keys are reported to the caller.
//
// Concurrency: any method may run concurrently with any other on different
// streams. Readers never block writers (seqlock retry); writers of one slot
// serialize on its version word, claims in one bucket on the bucket lock.
// Growth takes an exclusive host lock and waits for the device to finish
// (cudaDeviceSynchronize) before it frees the old arrays, so a kernel still
// running on another stream never reads freed memory.
//
// Calls return once their kernels are enqueued, except those that must read
// a device result on the host (size, export_batch's count, growth checks),
// which synchronize the given stream.
#ifndef TFRA_CC_CORE_GPU_GPU_HASH_TABLE_H_
#define TFRA_CC_CORE_GPU_GPU_HASH_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "cc/core/status.h"
#include "cc/core/table.h"
#include "cc/core/value_type.h"

namespace tfra {
namespace core {
namespace gpu {

constexpr int kBucketSlots = 128;

enum class GpuEvictPolicy : int32_t { kLru = 0, kLfu = 1, kCustom = 2 };

struct GpuTableOptions {
  int64_t dim = 1;
  ValueType value_type = ValueType::kFloat32;
  // Slots to start with (rounded up to a power-of-two number of buckets).
  uint64_t init_capacity = 1 << 14;
  // 0: grow without bound; > 0: a fixed table that evicts.
  uint64_t max_capacity = 0;
  GpuEvictPolicy policy = GpuEvictPolicy::kLru;
  // Growth keeps size <= max_load_factor * slots (unbounded tables only).
  double max_load_factor = 0.5;
};

// Device arrays of one table generation (see the layout above).
template <typename K>
struct GpuSlots {
  uint64_t num_buckets = 0;
  uint8_t* digests = nullptr;
  K* keys = nullptr;
  uint32_t* versions = nullptr;
  uint64_t* stamps = nullptr;
  uint64_t* scores = nullptr;
  char* values = nullptr;
  uint32_t* bucket_locks = nullptr;
  uint64_t slots() const { return num_buckets * kBucketSlots; }
};

// K: int64_t or int32_t. All pointer arguments are device memory unless
// named host_*. n may be 0 (nothing is launched).
template <typename K>
class GpuHashTable {
 public:
  // allocator: device memory for the table's arrays and scratch (TF's GPU
  // allocator in the op library; cudaMalloc in the tests). Not owned.
  static Status Create(const GpuTableOptions& options, Allocator* allocator,
                       void* stream, std::unique_ptr<GpuHashTable>* out);
  ~GpuHashTable();
  GpuHashTable(const GpuHashTable&) = delete;
  GpuHashTable& operator=(const GpuHashTable&) = delete;

  int64_t dim() const { return options_.dim; }
  ValueType value_type() const { return options_.value_type; }
  size_t row_bytes() const { return row_bytes_; }
  uint64_t capacity() const;  // slots of the current generation
  size_t allocated_bytes() const;

  // values[i] = row of keys[i] or the default row (defaults: one row, or n
  // rows with per_key_defaults); exists (may be null) gets found flags.
  Status find(void* stream, const K* keys, size_t n, char* values,
              const char* defaults, bool per_key_defaults, bool* exists) const;

  // Insert-or-assign; the last duplicate of the call wins. scores: one per
  // key for the custom policy, else null. dropped_keys (device, room for n;
  // may be null) and *host_num_dropped get the keys evicted or refused by a
  // bounded table (unbounded tables drop nothing).
  Status insert_or_assign(void* stream, const K* keys, size_t n,
                          const char* values, const uint64_t* scores,
                          K* dropped_keys, size_t* host_num_dropped);

  // Per position: present and exists[i] -> add the delta row; absent and
  // !exists[i] -> insert the row (the first such duplicate wins); otherwise
  // skipped. Inserts are applied before deltas; deltas to one row all apply
  // (their order, and so float rounding, is unspecified).
  Status accum(void* stream, const K* keys, size_t n,
               const char* values_or_deltas, const bool* exists,
               K* dropped_keys, size_t* host_num_dropped);

  Status remove(void* stream, const K* keys, size_t n);

  // Synchronizes the stream.
  Status size(void* stream, int64_t* host_size) const;
  Status clear(void* stream);

  // Up to max_rows live rows from slot `cursor` on (a slot-range scan of
  // max_rows slots, so a page holds at most max_rows rows; rows within a
  // page come in no fixed order). scores may be null. Synchronizes the
  // stream for the count; *host_next_cursor is 0 once the table is done.
  Status export_batch(void* stream, uint64_t cursor, size_t max_rows, K* keys,
                      char* values, uint64_t* scores, size_t* host_count,
                      uint64_t* host_next_cursor) const;

 private:
  GpuHashTable(const GpuTableOptions& options, Allocator* allocator);
  Status AllocateSlots(uint64_t num_buckets, void* stream, GpuSlots<K>* s);
  void FreeSlots(GpuSlots<K>* s);
  // Grows (doubling) until `rows` rows fit under the load factor.
  Status GrowFor(void* stream, uint64_t rows);
  Status Rehash(void* stream, uint64_t num_buckets);
  Status Write(void* stream, const K* keys, size_t n, const char* values,
               const uint64_t* scores, const bool* exists, bool accum_inserts,
               K* dropped_keys, size_t* host_num_dropped);
  Status ReadCounter(void* stream, const unsigned long long* d,
                     uint64_t* host) const;
  void* Scratch(size_t bytes);

  const GpuTableOptions options_;
  const size_t row_bytes_;
  Allocator* const allocator_;
  // Shared by every call, exclusive for growth and clear.
  mutable std::shared_mutex mu_;
  GpuSlots<K> slots_;
  // Device counters: [0] rows, [1] dropped this call, [2] overflowed.
  unsigned long long* counters_ = nullptr;
  // Rows last read from the device plus rows written since: an upper bound
  // that decides when a growth check must read the real count.
  uint64_t size_bound_ = 0;
  uint64_t calls_ = 0;  // stamps' high half; under mu_ (exclusive part)
  std::mutex calls_mu_;
};

// A device allocator over cudaMalloc/cudaFree, for the tests and benchmark.
std::unique_ptr<Allocator> NewCudaMallocAllocator();

// Zeroes `bytes` of device memory at `ptr` on the stream.
Status ZeroDeviceMemory(void* stream, void* ptr, size_t bytes);

// Whether a CUDA device is usable here, and the error otherwise.
bool GpuAvailable(std::string* why);

}  // namespace gpu
}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_GPU_GPU_HASH_TABLE_H_

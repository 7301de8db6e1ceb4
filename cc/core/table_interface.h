// The abstract table interface: the one thing TF kernels talk to.
//
// Every backend (the CPU hash table here; a GPU table or a remote KV store
// later) implements TableInterface<K> for its key storage type K (int32_t,
// int64_t or std::string). Values are opaque rows of row_bytes() bytes, i.e.
// `dim` elements of one value dtype; only accum needs element arithmetic, and
// the backend receives that as a RowAccumFn chosen by the caller for the
// value dtype. All buffers are raw host pointers laid out row-major:
// keys[n], values[n * row_bytes], exists[n].
//
// Thread-safety contract for implementations: every method may be called
// concurrently from many threads; a row is never observed half-written;
// table growth never loses an entry.
#ifndef TFRA_CC_CORE_TABLE_INTERFACE_H_
#define TFRA_CC_CORE_TABLE_INTERFACE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "cc/core/key_store.h"
#include "cc/core/row_meta.h"
#include "cc/core/status.h"

namespace tfra {
namespace core {

// Runs fn(begin, end) over disjoint ranges covering [0, total), possibly on
// several threads, and returns when all are done. cost_per_unit is a rough
// cost of one unit in nanoseconds, for the scheduler. An empty ParallelFor
// means "run serially on the calling thread".
using ParallelFor = std::function<void(
    int64_t total, int64_t cost_per_unit,
    const std::function<void(int64_t, int64_t)>& fn)>;

class TableBase {
 public:
  virtual ~TableBase() = default;
  virtual int64_t size() const = 0;
  virtual int64_t dim() const = 0;
  virtual size_t row_bytes() const = 0;
  // Bytes of memory the table has reserved (address space; resident memory
  // may be lower because untouched pages are not committed).
  virtual size_t allocated_bytes() const = 0;
  virtual void clear() = 0;
  // The admission sketch (row_meta.h) as kDepth x width counts summed over
  // shards (empty without admission), and its inverse, which gives every
  // shard the sums. Independent of the key type.
  virtual Status export_sketch(std::vector<int32_t>* sums,
                               size_t* width) const = 0;
  virtual Status import_sketch(const int32_t* sums, size_t width) = 0;
};

template <typename K>
class TableInterface : public TableBase {
 public:
  using Arg = KeyArg<K>;
  using ChunkFn =
      std::function<Status(const K* keys, const char* values, size_t count)>;

  // values[i] = row of keys[i], or the default row (defaults[0] or
  // defaults[i] when per_key_defaults) for missing keys; exists may be null.
  virtual Status find(const Arg* keys, size_t n, char* values,
                      const char* defaults, bool per_key_defaults,
                      bool* exists, const ParallelFor& pf) const = 0;
  // Insert-or-assign; for duplicate keys in one call the last one wins.
  // A bounded table (TableBounds) may refuse new keys (admission) and evict
  // rows (capacity, TTL); their keys are appended to *dropped (may be null).
  // scores: one per key (custom policy) or null.
  virtual Status insert(const Arg* keys, size_t n, const char* values,
                        const int64_t* scores, std::vector<K>* dropped,
                        const ParallelFor& pf) = 0;
  Status insert(const Arg* keys, size_t n, const char* values,
                const ParallelFor& pf) {
    return insert(keys, n, values, nullptr, nullptr, pf);
  }
  // Per position: present and exists -> add delta; absent and !exists ->
  // insert; otherwise skipped. Duplicates are applied in batch order.
  // Bounded tables report refused and evicted keys as insert does.
  virtual Status accum(const Arg* keys, size_t n, const char* values,
                       const bool* exists, std::vector<K>* dropped,
                       const ParallelFor& pf) = 0;
  Status accum(const Arg* keys, size_t n, const char* values,
               const bool* exists, const ParallelFor& pf) {
    return accum(keys, n, values, exists, nullptr, pf);
  }
  virtual Status remove(const Arg* keys, size_t n, const ParallelFor& pf) = 0;
  // Atomically replaces the whole content (readers see old or new). For a
  // tracking table `metas` (one per key, or null for fresh ones) restores
  // each row's bookkeeping.
  virtual Status import_replace(const Arg* keys, size_t n, const char* values,
                                const RowMeta* metas) = 0;
  Status import_replace(const Arg* keys, size_t n, const char* values) {
    return import_replace(keys, n, values, nullptr);
  }
  // Point-in-time snapshot: on_total(total) then on_chunk calls covering
  // exactly `total` rows, with writers blocked for the duration.
  virtual Status export_snapshot(const std::function<Status(size_t)>& on_total,
                                 const ChunkFn& on_chunk) const = 0;
  // Streams rows piece by piece, blocking writers of one piece at a time.
  virtual Status stream_rows(const ChunkFn& on_chunk) const = 0;

  // Bounded tables (row_meta.h). A plain table has bounds().tracking() ==
  // false, exports no metadata (metas == nullptr) and a zero clock.
  using MetaChunkFn = std::function<Status(const K* keys, const char* values,
                                           const RowMeta* metas,
                                           size_t count)>;
  virtual const TableBounds& bounds() const = 0;
  // Calls advanced by insert/accum so far; the version of the last write.
  virtual uint64_t clock() const = 0;
  virtual void set_clock(uint64_t clock) = 0;
  // export_snapshot with each row's metadata (null for a plain table).
  virtual Status export_with_meta(const std::function<Status(size_t)>& on_total,
                                  const MetaChunkFn& on_chunk) const = 0;

};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_TABLE_INTERFACE_H_

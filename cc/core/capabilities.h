// Optional table capabilities: what only some backends can do.
//
// A backend implements a capability by deriving from its interface and
// returning itself from the matching Table<K>::as_*() query; the TF kernels
// and the Python layer ask for it and fail with FailedPrecondition naming
// the backend (MissingCapability) when it is absent. The CPU table
// implements all three.
//
//   Bounded<K>       capacity, eviction, admission and TTL (TableBounds in
//                    row_meta.h) with a write clock and per-row bookkeeping
//                    (change tracking for delta export); writes report the
//                    keys they refused or evicted, so slot tables can drop
//                    them too.
//   Snapshots<K>     point-in-time export (writers blocked for its duration)
//                    and piecewise streaming for saving to files, both by
//                    callback over the table's own host memory.
//   AdmissionSketch  the count-min sketch behind admission, moved in and out
//                    of checkpoints.
#ifndef TFRA_CC_CORE_CAPABILITIES_H_
#define TFRA_CC_CORE_CAPABILITIES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "cc/core/row_meta.h"
#include "cc/core/status.h"
#include "cc/core/table.h"

namespace tfra {
namespace core {

template <typename K>
class Bounded {
 public:
  using Arg = KeyArg<K>;
  virtual ~Bounded() = default;
  virtual const TableBounds& bounds() const = 0;
  // Calls advanced by writes so far: the version of the last write.
  virtual uint64_t clock() const = 0;
  virtual void set_clock(uint64_t clock) = 0;
  // insert_or_assign / accum that may refuse new keys (admission) and evict
  // rows (capacity, TTL), appending their keys to *dropped (may be null).
  // scores: one per key (custom policy) or null.
  virtual Status insert_and_evict(const ExecContext& ctx, const Arg* keys,
                                  size_t n, const char* values,
                                  const int64_t* scores,
                                  std::vector<K>* dropped) = 0;
  virtual Status accum_and_evict(const ExecContext& ctx, const Arg* keys,
                                 size_t n, const char* values_or_deltas,
                                 const bool* exists,
                                 std::vector<K>* dropped) = 0;
  // import_replace restoring each row's bookkeeping (metas: one per key).
  virtual Status import_with_meta(const ExecContext& ctx, const Arg* keys,
                                  size_t n, const char* values,
                                  const RowMeta* metas) = 0;
};

template <typename K>
class Snapshots {
 public:
  using ChunkFn = std::function<Status(const K* keys, const char* values,
                                       const RowMeta* metas, size_t count)>;
  virtual ~Snapshots() = default;
  // Point-in-time snapshot: on_total(total), then on_chunk calls covering
  // exactly `total` rows (metas null unless the table keeps bookkeeping),
  // with writers blocked for the duration.
  virtual Status export_snapshot(const std::function<Status(size_t)>& on_total,
                                 const ChunkFn& on_chunk) const = 0;
  // Streams rows piece by piece, blocking writers of one piece at a time:
  // each piece is consistent, the whole is not a point in time.
  virtual Status stream_rows(const ChunkFn& on_chunk) const = 0;
};

class AdmissionSketch {
 public:
  virtual ~AdmissionSketch() = default;
  // The sketch as kDepth x width counts summed over the backend's parts
  // (empty without admission), and its inverse.
  virtual Status export_sketch(std::vector<int32_t>* sums,
                               size_t* width) const = 0;
  virtual Status import_sketch(const int32_t* sums, size_t width) = 0;
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_CAPABILITIES_H_

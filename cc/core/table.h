// The device-neutral table API: the one thing TF kernels talk to.
//
// Every backend (the CPU hash table; a CUDA table; a remote store such as
// Redis) implements Table<K> for its key storage type K (int32_t, int64_t or
// std::string). Values are opaque rows of row_bytes() bytes: dim() elements
// of value_type(). Buffers are row-major, keys[n], values[n * row_bytes],
// exists[n], and live in the memory space the backend declares
// (memory_space()): host memory for the CPU and remote backends, device
// memory for a GPU backend. The caller (the TF kernel) places its tensors
// there; a backend never copies its inputs across memory spaces.
//
// Every call receives an ExecContext: the host thread pool to spread work
// over (host backends), or the stream to enqueue on and an allocator for
// scratch memory (device backends). A device backend's call may return
// before its kernels finish; results are ready once the stream reaches
// them, which TF's stream ordering guarantees for the op's outputs.
//
// The base API is what every backend can honour. What only some can do is
// a capability (capabilities.h): bounds and eviction with a clock and
// change tracking, an admission sketch, point-in-time snapshots. A caller
// asks for one (as_bounded(), ...) and reports FailedPrecondition naming the
// backend when it is absent; nothing in the base API pretends to offer it.
//
// Thread-safety contract: every method may be called concurrently from many
// threads (streams); a row is never observed half-written; growth never
// loses an entry.
#ifndef TFRA_CC_CORE_TABLE_H_
#define TFRA_CC_CORE_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "cc/core/key_store.h"
#include "cc/core/row_meta.h"
#include "cc/core/status.h"
#include "cc/core/value_type.h"

namespace tfra {
namespace core {

// Runs fn(begin, end) over disjoint ranges covering [0, total), possibly on
// several threads, and returns when all are done. cost_per_unit is a rough
// cost of one unit in nanoseconds, for the scheduler. An empty ParallelFor
// means "run serially on the calling thread".
using ParallelFor = std::function<void(
    int64_t total, int64_t cost_per_unit,
    const std::function<void(int64_t, int64_t)>& fn)>;

// Where a backend's call buffers must live.
enum class MemorySpace : int32_t { kHost = 0, kDevice = 1 };

inline const char* MemorySpaceName(MemorySpace m) {
  return m == MemorySpace::kHost ? "host" : "device";
}

// Memory supplied by the caller (TF's allocator for the op's device), so the
// framework's memory accounting sees what a backend takes. Backends that
// manage their own address space (the CPU table reserves lazily committed
// pages) may ignore it.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes, size_t alignment) = 0;
  virtual void deallocate(void* ptr) = 0;
};

struct ExecContext {
  ParallelFor parallel_for;         // host work splitting; empty = serial
  void* stream = nullptr;           // e.g. a cudaStream_t; null on host
  Allocator* allocator = nullptr;   // scratch memory in the backend's space
  // Set by device kernels only: copies between host memory and the
  // backend's memory on `stream` that return once the copy is done, and
  // pinned host memory for staging pages (whole-table reads, file loads).
  std::function<Status(void* host_dst, const void* src, size_t bytes)> to_host;
  std::function<Status(void* dst, const void* host_src, size_t bytes)>
      from_host;
  Allocator* host_allocator = nullptr;
};

template <typename K>
class Bounded;
template <typename K>
class Snapshots;
class AdmissionSketch;

// Creation parameters common to all backends (backend-specific knobs such
// as the CPU table's shard count are ignored by backends without them).
struct TableOptions {
  int64_t dim = 1;
  ValueType value_type = ValueType::kFloat32;
  int64_t init_size = 0;     // rows to pre-size for
  int num_shards = 0;        // 0 = the backend's default
  TableBounds bounds;        // capacity, eviction, admission, TTL; a
                             // backend without Bounded<K> refuses tracking
  Allocator* allocator = nullptr;  // for the table's own storage, or null
};

class TableBase {
 public:
  virtual ~TableBase() = default;
  // The registry name of the backend ("cpu", ...), for error messages.
  virtual const char* backend() const = 0;
  virtual MemorySpace memory_space() const = 0;
  virtual int64_t size(const ExecContext& ctx) const = 0;
  virtual int64_t dim() const = 0;
  virtual ValueType value_type() const = 0;
  size_t row_bytes() const {
    return static_cast<size_t>(dim()) * ValueTypeSize(value_type());
  }
  // Bytes of memory the table has reserved (address space; resident memory
  // may be lower because untouched pages are not committed).
  virtual size_t allocated_bytes() const = 0;
  virtual Status clear(const ExecContext& ctx) = 0;
  // Capability: the admission sketch, or null.
  virtual AdmissionSketch* as_sketch() { return nullptr; }
  // Whether the typed table has the Bounded capability (Table<K> answers
  // from as_bounded(), so code holding only a TableBase need not switch on
  // the key type to ask).
  virtual bool bounded() const = 0;
};

template <typename K>
class Table : public TableBase {
 public:
  using Arg = KeyArg<K>;

  // values[i] = row of keys[i], or the default row (defaults[0 .. row_bytes)
  // or, per_key_defaults, defaults[i * row_bytes ..]) for missing keys;
  // exists (may be null) gets whether each key was found.
  virtual Status find(const ExecContext& ctx, const Arg* keys, size_t n,
                      char* values, const char* defaults,
                      bool per_key_defaults, bool* exists) const = 0;
  // Insert-or-assign; for duplicate keys in one call the last one wins.
  virtual Status insert_or_assign(const ExecContext& ctx, const Arg* keys,
                                  size_t n, const char* values) = 0;
  // Per position: present and exists[i] -> add delta (value_type's add);
  // absent and !exists[i] -> insert the row; otherwise skipped (the row was
  // removed or added since the caller looked). Duplicates apply in order.
  virtual Status accum(const ExecContext& ctx, const Arg* keys, size_t n,
                       const char* values_or_deltas, const bool* exists) = 0;
  virtual Status remove(const ExecContext& ctx, const Arg* keys,
                        size_t n) = 0;
  // Paged export, resumable by cursor (as HierarchicalKV's export_batch by
  // offset, or Redis SCAN): writes up to max_rows live rows from position
  // `cursor` on into keys/values (metas, if not null and the table keeps
  // row bookkeeping, gets each row's RowMeta; zeroes otherwise), sets
  // *count and *next_cursor, which is 0 once the table is exhausted. Start
  // at cursor 0. Rows present throughout a full pass appear exactly once if
  // no key is removed during the pass; for a point-in-time copy use the
  // Snapshots capability.
  virtual Status export_batch(const ExecContext& ctx, uint64_t cursor,
                              size_t max_rows, K* keys, char* values,
                              RowMeta* metas, size_t* count,
                              uint64_t* next_cursor) const = 0;
  // Replaces the whole content with the given rows (duplicates: last wins).
  // With the Snapshots capability readers see the old or the new content,
  // never a mix; without it, only the end state is promised.
  virtual Status import_replace(const ExecContext& ctx, const Arg* keys,
                                size_t n, const char* values) = 0;

  // Capabilities (capabilities.h), null when the backend lacks them.
  virtual Bounded<K>* as_bounded() { return nullptr; }
  virtual const Bounded<K>* as_bounded() const { return nullptr; }
  virtual const Snapshots<K>* as_snapshots() const { return nullptr; }
  bool bounded() const final { return as_bounded() != nullptr; }
};

// "the '<backend>' table backend has no <what>": the message of the
// FailedPrecondition a caller returns when a capability is absent.
inline Status MissingCapability(const TableBase& t, const std::string& what) {
  return FailedPrecondition(std::string("the '") + t.backend() +
                            "' table backend has no " + what);
}

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_TABLE_H_

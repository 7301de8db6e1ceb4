// CpuHashTable<K>: the concurrent CPU hash table behind
// de.CuckooHashTable (the class keeps TFRA's name; the engine is not cuckoo
// hashing).
//
// Structure: 2^s independent TableShards (default 64), each with its own
// reader-writer lock. A key belongs to shard `hash >> (64 - s)`, so shard
// choice uses the hash's top bits and never correlates with the in-shard
// probe position (low bits).
//
// Batches: every operation first groups the batch by shard (shard_plan.h).
// Shards are then processed in parallel on the caller's thread pool; each
// worker takes a shard's lock once for all of that shard's keys (shared for
// find/export, exclusive for insert/accum/remove), so a 65,536-key batch
// costs 64 lock acquisitions, not 65,536. Results are written by batch
// position, so output order never depends on scheduling.
//
// Consistency: a single batch is atomic per shard, not across shards; a
// reader never sees a torn row because rows are written only under the
// exclusive lock. Growth (rehash) happens under the exclusive lock of the
// one shard that grows; other shards keep serving.
//
// Bounded tables (TableBounds, row_meta.h): every insert/accum call advances
// the table clock (an atomic counter) and stamps the rows it writes with it;
// each shard enforces its share of max_capacity (the shares add up to it
// exactly), admission and TTL
// under its own lock, and the keys it refuses or evicts are returned per
// call, shard by shard. Every ttl/4 steps one call also sweeps expired rows
// out of all shards (reads already treat them as absent).
//
// Seams: the class implements the device-neutral Table<K> (table.h) and all
// three capabilities (capabilities.h) for host memory, and is registered as
// backend "cpu" (cpu_backend.cc). Its native host API (the same operations
// with a trailing ParallelFor, bounds-aware insert/accum, export_snapshot)
// is what the neutral methods forward to and what its own unit tests drive.
#ifndef TFRA_CC_CORE_CPU_HASH_TABLE_H_
#define TFRA_CC_CORE_CPU_HASH_TABLE_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "cc/core/capabilities.h"
#include "cc/core/shard_plan.h"
#include "cc/core/table.h"
#include "cc/core/table_shard.h"

namespace tfra {
namespace core {

// dim, value_type, init_size, num_shards (0 = 64; rounded up to a power of
// two, 1..1024) and bounds; the allocator is not used (shards reserve
// lazily committed address space, growable_buffer.h).
using CpuHashTableOptions = TableOptions;

template <typename K>
class CpuHashTable final : public Table<K>,
                           public Bounded<K>,
                           public Snapshots<K>,
                           public AdmissionSketch {
 public:
  using Arg = KeyArg<K>;
  using ChunkFn = typename Snapshots<K>::ChunkFn;
  static constexpr int kDefaultShards = 64;

  static Status Create(const CpuHashTableOptions& opt,
                       std::unique_ptr<CpuHashTable>* out) {
    if (opt.dim < 1) return InvalidArgument("dim must be >= 1");
    if (!ValidValueType(opt.value_type)) {
      return InvalidArgument("unknown value type");
    }
    const int shards = opt.num_shards == 0 ? kDefaultShards : opt.num_shards;
    if (shards < 1 || shards > 1024) {
      return InvalidArgument("num_shards must be in [1, 1024]");
    }
    if (opt.init_size < 0) return InvalidArgument("init_size must be >= 0");
    TFRA_CORE_RETURN_IF_ERROR(CheckTableBounds(opt.bounds));
    out->reset(new CpuHashTable(opt, shards));
    return (*out)->reserve(static_cast<size_t>(opt.init_size));
  }

  // ---- TableBase / Table<K> (the neutral API) ----
  const char* backend() const override { return "cpu"; }
  MemorySpace memory_space() const override { return MemorySpace::kHost; }
  int64_t size(const ExecContext&) const override { return size(); }
  int64_t dim() const override { return dim_; }
  ValueType value_type() const override { return value_type_; }
  size_t row_bytes() const { return row_bytes_; }
  Status clear(const ExecContext&) override {
    clear();
    return Status::OK();
  }
  Status find(const ExecContext& ctx, const Arg* keys, size_t n, char* values,
              const char* defaults, bool per_key_defaults,
              bool* exists) const override {
    return find(keys, n, values, defaults, per_key_defaults, exists,
                ctx.parallel_for);
  }
  Status insert_or_assign(const ExecContext& ctx, const Arg* keys, size_t n,
                          const char* values) override {
    return insert(keys, n, values, nullptr, nullptr, ctx.parallel_for);
  }
  Status accum(const ExecContext& ctx, const Arg* keys, size_t n,
               const char* values, const bool* exists) override {
    return accum(keys, n, values, exists, nullptr, ctx.parallel_for);
  }
  Status remove(const ExecContext& ctx, const Arg* keys, size_t n) override {
    return remove(keys, n, ctx.parallel_for);
  }
  Status import_replace(const ExecContext&, const Arg* keys, size_t n,
                        const char* values) override {
    return import_replace(keys, n, values, nullptr);
  }
  Status export_batch(const ExecContext& ctx, uint64_t cursor, size_t max_rows,
                      K* keys, char* values, RowMeta* metas, size_t* count,
                      uint64_t* next_cursor) const override;
  Bounded<K>* as_bounded() override { return this; }
  const Bounded<K>* as_bounded() const override { return this; }
  const Snapshots<K>* as_snapshots() const override { return this; }
  AdmissionSketch* as_sketch() override { return this; }

  // ---- Bounded<K> ----
  const TableBounds& bounds() const override { return bounds_; }
  uint64_t clock() const override { return clock_.load(); }
  void set_clock(uint64_t clock) override {
    clock_.store(clock);
    next_sweep_.store(clock + sweep_interval());
  }
  Status insert_and_evict(const ExecContext& ctx, const Arg* keys, size_t n,
                          const char* values, const int64_t* scores,
                          std::vector<K>* dropped) override {
    return insert(keys, n, values, scores, dropped, ctx.parallel_for);
  }
  Status accum_and_evict(const ExecContext& ctx, const Arg* keys, size_t n,
                         const char* values, const bool* exists,
                         std::vector<K>* dropped) override {
    return accum(keys, n, values, exists, dropped, ctx.parallel_for);
  }
  Status import_with_meta(const ExecContext&, const Arg* keys, size_t n,
                          const char* values, const RowMeta* metas) override {
    return import_replace(keys, n, values, metas);
  }

  // ---- Snapshots<K> ----
  // Rows past their TTL are left out of every export (they read as absent).
  Status export_snapshot(const std::function<Status(size_t)>& on_total,
                         const ChunkFn& on_chunk) const override {
    std::vector<std::shared_lock<std::shared_mutex>> locks;
    locks.reserve(shards_.size());
    for (const auto& s : shards_) locks.emplace_back(s->mu);
    const uint64_t now = clock_.load();
    size_t total = 0;
    for (const auto& s : shards_) {
      for_live_runs(s->table, now, [&](size_t, size_t count) {
        total += count;
        return Status::OK();
      });
    }
    TFRA_CORE_RETURN_IF_ERROR(on_total(total));
    for (const auto& s : shards_) {
      TFRA_CORE_RETURN_IF_ERROR(export_shard(s->table, now, on_chunk));
    }
    return Status::OK();
  }
  Status stream_rows(const ChunkFn& on_chunk) const override {
    for (const auto& s : shards_) {
      std::shared_lock<std::shared_mutex> lock(s->mu);
      TFRA_CORE_RETURN_IF_ERROR(export_shard(s->table, clock_.load(), on_chunk));
    }
    return Status::OK();
  }

  // ---- AdmissionSketch ----
  Status export_sketch(std::vector<int32_t>* sums,
                       size_t* width) const override;
  Status import_sketch(const int32_t* sums, size_t width) override;

  // ---- The native host API ----
  // The rows a lookup or export sees: with a TTL, rows past it that no
  // sweep has removed yet are not counted (O(rows) then; O(shards) else).
  int64_t size() const {
    const uint64_t now = clock_.load();
    int64_t total = 0;
    for (const auto& s : shards_) {
      std::shared_lock<std::shared_mutex> lock(s->mu);
      for_live_runs(s->table, now, [&](size_t, size_t count) {
        total += static_cast<int64_t>(count);
        return Status::OK();
      });
    }
    return total;
  }
  size_t num_shards() const { return shards_.size(); }

  size_t allocated_bytes() const override {
    size_t total = sizeof(*this);
    for (const auto& s : shards_) {
      std::shared_lock<std::shared_mutex> lock(s->mu);
      total += sizeof(*s) + s->table.allocated_bytes();
    }
    return total;
  }

  void clear() {
    for (auto& s : shards_) {
      std::unique_lock<std::shared_mutex> lock(s->mu);
      s->table.clear();
    }
  }

  Status find(const Arg* keys, size_t n, char* values, const char* defaults,
              bool per_key_defaults, bool* exists,
              const ParallelFor& pf) const {
    return for_each_shard</*kExclusive=*/false>(
        keys, n, pf, 150,
        [&](size_t, const TableShard<K>& t, const uint64_t* hashes,
            const uint32_t* order, size_t count) {
          t.find_batch(keys, hashes, order, count, values, defaults,
                       per_key_defaults, exists,
                       clock_.load(std::memory_order_relaxed));
          return Status::OK();
        });
  }

  // Insert-or-assign; a bounded table may refuse new keys (admission) and
  // evict rows (capacity, TTL), appending their keys to *dropped (may be
  // null). scores: one per key (custom policy) or null.
  Status insert(const Arg* keys, size_t n, const char* values,
                const int64_t* scores, std::vector<K>* dropped,
                const ParallelFor& pf) {
    return write(keys, n, pf, dropped,
                 [&](TableShard<K>& t, const uint64_t* hashes,
                     const uint32_t* order, size_t count, uint64_t now,
                     std::vector<K>* shard_dropped) {
                   return t.insert_batch(keys, hashes, order, count, values,
                                         scores, now, shard_dropped);
                 });
  }
  Status insert(const Arg* keys, size_t n, const char* values,
                const ParallelFor& pf) {
    return insert(keys, n, values, nullptr, nullptr, pf);
  }

  Status accum(const Arg* keys, size_t n, const char* values,
               const bool* exists, std::vector<K>* dropped,
               const ParallelFor& pf) {
    return write(keys, n, pf, dropped,
                 [&](TableShard<K>& t, const uint64_t* hashes,
                     const uint32_t* order, size_t count, uint64_t now,
                     std::vector<K>* shard_dropped) {
                   return t.accum_batch(keys, hashes, order, count, values,
                                        exists, accum_, now, shard_dropped);
                 });
  }
  Status accum(const Arg* keys, size_t n, const char* values,
               const bool* exists, const ParallelFor& pf) {
    return accum(keys, n, values, exists, nullptr, pf);
  }

  Status remove(const Arg* keys, size_t n, const ParallelFor& pf) {
    return for_each_shard<true>(
        keys, n, pf, 200,
        [&](size_t, TableShard<K>& t, const uint64_t* hashes,
            const uint32_t* order, size_t count) {
          t.remove_batch(keys, hashes, order, count);
          return Status::OK();
        });
  }

  // Atomically replaces the whole content (readers see old or new). For a
  // tracking table `metas` (one per key, or null for fresh ones) restores
  // each row's bookkeeping.
  Status import_replace(const Arg* keys, size_t n, const char* values,
                        const RowMeta* metas) {
    ShardPlan plan;
    TFRA_CORE_RETURN_IF_ERROR(MakeShardPlan(keys, n, shard_bits_, &plan));
    // Lock every shard (in index order, as export does) so readers see the
    // old or the new content, never a mix.
    std::vector<std::unique_lock<std::shared_mutex>> locks;
    locks.reserve(shards_.size());
    for (auto& s : shards_) locks.emplace_back(s->mu);
    for (auto& s : shards_) s->table.clear();
    for (size_t s = 0; s < shards_.size(); ++s) {
      const uint32_t begin = plan.offsets[s], end = plan.offsets[s + 1];
      TFRA_CORE_RETURN_IF_ERROR(shards_[s]->table.restore_batch(
          keys, plan.hashes.data(), plan.order.data() + begin, end - begin,
          values, metas));
    }
    return Status::OK();
  }

 private:
  // One shard and its lock, padded to its own cache lines so that lock
  // traffic on one shard does not false-share with its neighbours.
  struct alignas(64) Shard {
    Shard(size_t row_bytes, int64_t dim, const TableBounds* bounds,
          size_t capacity)
        : table(row_bytes, dim, bounds, capacity) {}
    mutable std::shared_mutex mu;
    TableShard<K> table;
  };

  CpuHashTable(const CpuHashTableOptions& opt, int num_shards)
      : dim_(opt.dim),
        value_type_(opt.value_type),
        row_bytes_(static_cast<size_t>(opt.dim) * ValueTypeSize(opt.value_type)),
        accum_(HostAccumFn(opt.value_type)),
        bounds_(opt.bounds) {
    size_t shards = 1;
    while (shards < static_cast<size_t>(num_shards)) shards <<= 1;
    // A capacity is split exactly over the shards (the first max % shards
    // get one row more), and a table never has more shards than rows.
    const size_t max_capacity = static_cast<size_t>(bounds_.max_capacity);
    while (max_capacity > 0 && shards > max_capacity) shards >>= 1;
    shard_bits_ = __builtin_ctzll(shards);
    for (size_t i = 0; i < shards; ++i) {
      const size_t capacity =
          max_capacity == 0 ? 0
                            : max_capacity / shards + (i < max_capacity % shards);
      shards_.emplace_back(new Shard(row_bytes_, dim_, &bounds_, capacity));
    }
    next_sweep_.store(sweep_interval());
  }

  bool expired(const TableShard<K>& t, size_t r, uint64_t now) const {
    return bounds_.ttl > 0 && t.tracking() && Expired(t.metas()[r], now, bounds_.ttl);
  }

  // Calls fn(first row, count) for each run of consecutive live rows of a
  // shard (all rows, in one run, unless the table has a TTL).
  template <typename Fn>
  Status for_live_runs(const TableShard<K>& t, uint64_t now, Fn&& fn) const {
    const size_t n = t.size();
    if (bounds_.ttl <= 0 || !t.tracking()) {
      return n == 0 ? Status::OK() : fn(size_t{0}, n);
    }
    size_t r = 0;
    while (r < n) {
      while (r < n && expired(t, r, now)) ++r;
      size_t end = r;
      while (end < n && !expired(t, end, now)) ++end;
      if (end > r) TFRA_CORE_RETURN_IF_ERROR(fn(r, end - r));
      r = end;
    }
    return Status::OK();
  }

  Status export_shard(const TableShard<K>& t, uint64_t now,
                      const ChunkFn& on_chunk) const {
    const size_t row_bytes = row_bytes_;
    return for_live_runs(t, now, [&](size_t first, size_t count) {
      return on_chunk(t.keys() + first, t.values() + first * row_bytes,
                      t.tracking() ? t.metas() + first : nullptr, count);
    });
  }

  uint64_t sweep_interval() const {
    return bounds_.ttl > 0 ? std::max<uint64_t>(1, bounds_.ttl / 4) : 0;
  }

  // A write call: advances the clock to `now`, runs fn(shard, hashes,
  // order, count, now, dropped) per shard, then appends the dropped keys in
  // shard order and, when due, sweeps expired rows.
  template <typename Fn>
  Status write(const Arg* keys, size_t n, const ParallelFor& pf,
               std::vector<K>* dropped, Fn&& fn) {
    const uint64_t now = clock_.fetch_add(1) + 1;
    const bool tracking = bounds_.tracking();
    std::vector<std::vector<K>> per_shard(tracking ? shards_.size() : 0);
    Status st = for_each_shard<true>(
        keys, n, pf, 200,
        [&](size_t s, TableShard<K>& t, const uint64_t* hashes,
            const uint32_t* order, size_t count) {
          return fn(t, hashes, order, count, now,
                    tracking ? &per_shard[s] : nullptr);
        });
    if (tracking && dropped != nullptr) {
      for (auto& keys_of_shard : per_shard) {
        dropped->insert(dropped->end(), keys_of_shard.begin(),
                        keys_of_shard.end());
      }
    }
    TFRA_CORE_RETURN_IF_ERROR(st);
    uint64_t due = next_sweep_.load();
    if (bounds_.ttl > 0 && now >= due &&
        next_sweep_.compare_exchange_strong(due, now + sweep_interval())) {
      for (auto& s : shards_) {
        std::unique_lock<std::shared_mutex> lock(s->mu);
        s->table.sweep_expired(now, dropped);
      }
    }
    return Status::OK();
  }

  Status reserve(size_t rows) {
    if (rows == 0) return Status::OK();
    const size_t per_shard = rows / shards_.size() + 1;
    for (auto& s : shards_) {
      std::unique_lock<std::shared_mutex> lock(s->mu);
      TFRA_CORE_RETURN_IF_ERROR(s->table.reserve(per_shard));
    }
    return Status::OK();
  }

  // Groups the batch by shard and calls fn(shard index, shard table,
  // hashes, order, count) for every shard with keys, holding that shard's
  // lock: exclusive for mutations, shared for reads.
  template <bool kExclusive, typename Fn>
  Status for_each_shard(const Arg* keys, size_t n, const ParallelFor& pf,
                        int64_t ns_per_key, Fn&& fn) const {
    ShardPlan plan;
    TFRA_CORE_RETURN_IF_ERROR(MakeShardPlan(keys, n, shard_bits_, &plan));
    return RunShards(plan, pf, ns_per_key,
                     [&](size_t s, const uint32_t* order, size_t count) {
                       Shard& shard = *shards_[s];
                       if (kExclusive) {
                         std::unique_lock<std::shared_mutex> lock(shard.mu);
                         return fn(s, shard.table, plan.hashes.data(), order,
                                   count);
                       }
                       std::shared_lock<std::shared_mutex> lock(shard.mu);
                       return fn(s, shard.table, plan.hashes.data(), order,
                                 count);
                     });
  }

  int64_t dim_;
  ValueType value_type_;
  size_t row_bytes_;
  RowAccumFn accum_;
  TableBounds bounds_;
  std::atomic<uint64_t> clock_{0};
  std::atomic<uint64_t> next_sweep_{0};
  int shard_bits_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;
};

// Cursor layout: shard index in the high 32 bits, row within the shard in
// the low 32. Each shard is read under its shared lock, one page at a time.
template <typename K>
Status CpuHashTable<K>::export_batch(const ExecContext&, uint64_t cursor,
                                     size_t max_rows, K* keys, char* values,
                                     RowMeta* metas, size_t* count,
                                     uint64_t* next_cursor) const {
  if (max_rows == 0) return InvalidArgument("max_rows: must be >= 1");
  size_t s = static_cast<size_t>(cursor >> 32);
  size_t r = static_cast<size_t>(cursor & 0xffffffffu);
  size_t done = 0;
  const uint64_t now = clock_.load();
  while (s < shards_.size() && done < max_rows) {
    std::shared_lock<std::shared_mutex> lock(shards_[s]->mu);
    const TableShard<K>& t = shards_[s]->table;
    const size_t n = t.size();
    for (; r < n && done < max_rows; ++r) {
      if (expired(t, r, now)) continue;
      keys[done] = t.keys()[r];
      std::memcpy(values + done * row_bytes_, t.values() + r * row_bytes_,
                  row_bytes_);
      if (metas != nullptr) {
        metas[done] = t.tracking() ? t.metas()[r] : RowMeta{0, 0, 0, 0};
      }
      ++done;
    }
    if (r >= n) {
      ++s;
      r = 0;
    }
  }
  *count = done;
  *next_cursor = s >= shards_.size() ? 0 : (static_cast<uint64_t>(s) << 32) | r;
  return Status::OK();
}

template <typename K>
Status CpuHashTable<K>::export_sketch(std::vector<int32_t>* sums,
                                      size_t* width) const {
  sums->clear();
  *width = 0;
  for (const auto& s : shards_) {
    std::shared_lock<std::shared_mutex> lock(s->mu);
    const CountMinSketch& sketch = s->table.sketch();
    if (!sketch.enabled()) return Status::OK();
    if (sums->empty()) {
      *width = sketch.width();
      sums->assign(CountMinSketch::kDepth * sketch.width(), 0);
    }
    sketch.add_to(sums->data());
  }
  return Status::OK();
}

template <typename K>
Status CpuHashTable<K>::import_sketch(const int32_t* sums, size_t width) {
  for (auto& s : shards_) {
    std::unique_lock<std::shared_mutex> lock(s->mu);
    CountMinSketch& sketch = s->table.sketch();
    if (!sketch.enabled()) {
      return FailedPrecondition("the table has no admission sketch");
    }
    if (sketch.width() != width) {
      return InvalidArgument("sketch width " + std::to_string(width) +
                             " differs from the table's " +
                             std::to_string(sketch.width()));
    }
    sketch.assign(sums);
  }
  return Status::OK();
}

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_CPU_HASH_TABLE_H_

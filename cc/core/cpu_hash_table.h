// CpuHashTable<K>: the concurrent CPU hash table behind
// de.CuckooHashTable (the class keeps TFRA's name; the engine is not cuckoo
// hashing).
//
// Structure: 2^s independent TableShards (default 64), each with its own
// reader-writer lock. A key belongs to shard `hash >> (64 - s)`, so shard
// choice uses the hash's top bits and never correlates with the in-shard
// probe position (low bits).
//
// Batches: every operation first hashes the whole batch and counting-sorts
// batch positions by shard (stable, so batch order is kept inside a shard).
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
#ifndef TFRA_CC_CORE_CPU_HASH_TABLE_H_
#define TFRA_CC_CORE_CPU_HASH_TABLE_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "cc/core/hash.h"
#include "cc/core/table_interface.h"
#include "cc/core/table_shard.h"

namespace tfra {
namespace core {

struct CpuHashTableOptions {
  int64_t dim = 1;
  size_t value_bytes = 4;      // bytes of one value element
  RowAccumFn accum = nullptr;  // element-wise add for the value dtype
  int64_t init_size = 0;       // rows to pre-size for
  int num_shards = 64;         // rounded up to a power of two, 1..1024
  TableBounds bounds;          // capacity, eviction, admission, TTL
};

template <typename K>
class CpuHashTable final : public TableInterface<K> {
 public:
  using Arg = KeyArg<K>;
  using ChunkFn = typename TableInterface<K>::ChunkFn;
  using MetaChunkFn = typename TableInterface<K>::MetaChunkFn;
  using TableInterface<K>::insert;
  using TableInterface<K>::accum;
  using TableInterface<K>::import_replace;

  static Status Create(const CpuHashTableOptions& opt,
                       std::unique_ptr<CpuHashTable>* out) {
    if (opt.dim < 1) return InvalidArgument("dim must be >= 1");
    if (opt.accum == nullptr) return InvalidArgument("accum function missing");
    if (opt.num_shards < 1 || opt.num_shards > 1024) {
      return InvalidArgument("num_shards must be in [1, 1024]");
    }
    if (opt.init_size < 0) return InvalidArgument("init_size must be >= 0");
    TFRA_CORE_RETURN_IF_ERROR(CheckBounds(opt.bounds));
    out->reset(new CpuHashTable(opt));
    return (*out)->reserve(static_cast<size_t>(opt.init_size));
  }

  // The rows a lookup or export sees: with a TTL, rows past it that no
  // sweep has removed yet are not counted (O(rows) then; O(shards) else).
  int64_t size() const override {
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
  int64_t dim() const override { return dim_; }
  size_t row_bytes() const override { return row_bytes_; }
  size_t num_shards() const { return shards_.size(); }

  size_t allocated_bytes() const override {
    size_t total = sizeof(*this);
    for (const auto& s : shards_) {
      std::shared_lock<std::shared_mutex> lock(s->mu);
      total += sizeof(*s) + s->table.allocated_bytes();
    }
    return total;
  }

  void clear() override {
    for (auto& s : shards_) {
      std::unique_lock<std::shared_mutex> lock(s->mu);
      s->table.clear();
    }
  }

  Status find(const Arg* keys, size_t n, char* values, const char* defaults,
              bool per_key_defaults, bool* exists,
              const ParallelFor& pf) const override {
    return for_each_shard</*kExclusive=*/false>(
        keys, n, pf, 150,
        [&](const TableShard<K>& t, const uint64_t* hashes,
            const uint32_t* order, size_t count) {
          t.find_batch(keys, hashes, order, count, values, defaults,
                       per_key_defaults, exists,
                       clock_.load(std::memory_order_relaxed));
          return Status::OK();
        });
  }

  Status insert(const Arg* keys, size_t n, const char* values,
                const int64_t* scores, std::vector<K>* dropped,
                const ParallelFor& pf) override {
    return write(keys, n, pf, dropped,
                 [&](TableShard<K>& t, const uint64_t* hashes,
                     const uint32_t* order, size_t count, uint64_t now,
                     std::vector<K>* shard_dropped) {
                   return t.insert_batch(keys, hashes, order, count, values,
                                         scores, now, shard_dropped);
                 });
  }

  Status accum(const Arg* keys, size_t n, const char* values,
               const bool* exists, std::vector<K>* dropped,
               const ParallelFor& pf) override {
    return write(keys, n, pf, dropped,
                 [&](TableShard<K>& t, const uint64_t* hashes,
                     const uint32_t* order, size_t count, uint64_t now,
                     std::vector<K>* shard_dropped) {
                   return t.accum_batch(keys, hashes, order, count, values,
                                        exists, accum_, now, shard_dropped);
                 });
  }

  Status remove(const Arg* keys, size_t n, const ParallelFor& pf) override {
    return for_each_shard<true>(
        keys, n, pf, 200,
        [&](TableShard<K>& t, const uint64_t* hashes, const uint32_t* order,
            size_t count) {
          t.remove_batch(keys, hashes, order, count);
          return Status::OK();
        });
  }

  Status import_replace(const Arg* keys, size_t n, const char* values,
                        const RowMeta* metas) override {
    Plan plan;
    TFRA_CORE_RETURN_IF_ERROR(make_plan(keys, n, &plan));
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

  Status export_snapshot(const std::function<Status(size_t)>& on_total,
                         const ChunkFn& on_chunk) const override {
    return export_with_meta(
        on_total, [&](const K* k, const char* v, const RowMeta*, size_t n) {
          return on_chunk(k, v, n);
        });
  }

  // Rows past their TTL are left out of every export (they read as absent).
  Status export_with_meta(const std::function<Status(size_t)>& on_total,
                          const MetaChunkFn& on_chunk) const override {
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

  const TableBounds& bounds() const override { return bounds_; }
  uint64_t clock() const override { return clock_.load(); }
  void set_clock(uint64_t clock) override {
    clock_.store(clock);
    next_sweep_.store(clock + sweep_interval());
  }

  Status export_sketch(std::vector<int32_t>* sums,
                       size_t* width) const override {
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

  Status import_sketch(const int32_t* sums, size_t width) override {
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

  Status stream_rows(const ChunkFn& on_chunk) const override {
    for (const auto& s : shards_) {
      std::shared_lock<std::shared_mutex> lock(s->mu);
      TFRA_CORE_RETURN_IF_ERROR(export_shard(
          s->table, clock_.load(),
          [&](const K* k, const char* v, const RowMeta*, size_t n) {
            return on_chunk(k, v, n);
          }));
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

  // A batch grouped by shard: positions of shard s are
  // order[offsets[s] .. offsets[s+1]), in batch order.
  struct Plan {
    std::vector<uint64_t> hashes;
    std::vector<uint32_t> order;
    std::vector<uint32_t> offsets;
  };

  explicit CpuHashTable(const CpuHashTableOptions& opt)
      : dim_(opt.dim),
        row_bytes_(static_cast<size_t>(opt.dim) * opt.value_bytes),
        accum_(opt.accum),
        bounds_(opt.bounds) {
    size_t shards = 1;
    while (shards < static_cast<size_t>(opt.num_shards)) shards <<= 1;
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

  static Status CheckBounds(const TableBounds& b) {
    if (b.max_capacity < 0) return InvalidArgument("max_capacity must be >= 0");
    if (b.ttl < 0) return InvalidArgument("ttl must be >= 0");
    if (b.admit_after < 0 || b.admit_after > 255) {
      return InvalidArgument("admit_after must be in [0, 255]");
    }
    if (static_cast<int32_t>(b.policy) < 0 || static_cast<int32_t>(b.policy) > 3) {
      return InvalidArgument("unknown eviction policy");
    }
    if (b.admit_after > 1 &&
        (b.sketch_width < 16 || (b.sketch_width & (b.sketch_width - 1)) != 0)) {
      return InvalidArgument("sketch_width must be a power of two >= 16");
    }
    return Status::OK();
  }

  // Calls fn(first row, count) for each run of consecutive live rows of a
  // shard (all rows, in one run, unless the table has a TTL).
  template <typename Fn>
  Status for_live_runs(const TableShard<K>& t, uint64_t now, Fn&& fn) const {
    const size_t n = t.size();
    if (bounds_.ttl <= 0 || !t.tracking()) {
      return n == 0 ? Status::OK() : fn(size_t{0}, n);
    }
    const RowMeta* m = t.metas();
    size_t r = 0;
    while (r < n) {
      while (r < n && Expired(m[r], now, bounds_.ttl)) ++r;
      size_t end = r;
      while (end < n && !Expired(m[end], now, bounds_.ttl)) ++end;
      if (end > r) TFRA_CORE_RETURN_IF_ERROR(fn(r, end - r));
      r = end;
    }
    return Status::OK();
  }

  Status export_shard(const TableShard<K>& t, uint64_t now,
                      const MetaChunkFn& on_chunk) const {
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

  size_t shard_of(uint64_t hash) const {
    return shard_bits_ == 0 ? 0 : hash >> (64 - shard_bits_);
  }

  Status make_plan(const Arg* keys, size_t n, Plan* plan) const {
    if (n > std::numeric_limits<uint32_t>::max()) {
      return InvalidArgument("batch larger than 2^32 - 1 keys");
    }
    const size_t shards = shards_.size();
    plan->hashes.resize(n);
    plan->order.resize(n);
    plan->offsets.assign(shards + 1, 0);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t h = HashKey(keys[i]);
      plan->hashes[i] = h;
      ++plan->offsets[shard_of(h) + 1];
    }
    for (size_t s = 0; s < shards; ++s) plan->offsets[s + 1] += plan->offsets[s];
    std::vector<uint32_t> cursor(plan->offsets.begin(), plan->offsets.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      plan->order[cursor[shard_of(plan->hashes[i])]++] = static_cast<uint32_t>(i);
    }
    return Status::OK();
  }

  // Runs fn(shard, order, count) for every shard with keys in the plan, in
  // parallel when the batch is large enough to pay for the hand-off. Returns
  // the first error (by shard index) any shard reported.
  template <typename Fn>
  Status run(const Plan& plan, const ParallelFor& pf, int64_t ns_per_key,
             Fn&& fn) const {
    const size_t shards = shards_.size();
    const size_t n = plan.order.size();
    if (n == 0) return Status::OK();
    std::vector<Status> errors(shards);
    auto work = [&](int64_t begin, int64_t end) {
      for (int64_t s = begin; s < end; ++s) {
        const uint32_t b = plan.offsets[s], e = plan.offsets[s + 1];
        if (b != e) errors[s] = fn(static_cast<size_t>(s), plan.order.data() + b, e - b);
      }
    };
    if (pf && n >= kParallelMinKeys && shards > 1) {
      pf(static_cast<int64_t>(shards),
         ns_per_key * static_cast<int64_t>(n / shards + 1), work);
    } else {
      work(0, static_cast<int64_t>(shards));
    }
    for (const Status& st : errors) {
      if (!st.ok()) return st;
    }
    return Status::OK();
  }

  // Groups the batch by shard and calls fn(shard table, hashes, order,
  // count) for every shard with keys, holding that shard's lock: exclusive
  // for mutations, shared for reads.
  template <bool kExclusive, typename Fn>
  Status for_each_shard(const Arg* keys, size_t n, const ParallelFor& pf,
                        int64_t ns_per_key, Fn&& fn) const {
    Plan plan;
    TFRA_CORE_RETURN_IF_ERROR(make_plan(keys, n, &plan));
    return run(plan, pf, ns_per_key,
               [&](size_t s, const uint32_t* order, size_t count) {
                 Shard& shard = *shards_[s];
                 if (kExclusive) {
                   std::unique_lock<std::shared_mutex> lock(shard.mu);
                   return call(fn, s, shard.table, plan.hashes.data(), order,
                               count);
                 }
                 std::shared_lock<std::shared_mutex> lock(shard.mu);
                 return call(fn, s, shard.table, plan.hashes.data(), order,
                             count);
               });
  }

  // fn(shard index, table, ...) when it takes the index, else fn(table, ...).
  template <typename Fn, typename T>
  static Status call(Fn& fn, size_t s, T& table, const uint64_t* hashes,
                     const uint32_t* order, size_t count) {
    if constexpr (std::is_invocable_v<Fn&, size_t, T&, const uint64_t*,
                                      const uint32_t*, size_t>) {
      return fn(s, table, hashes, order, count);
    } else {
      return fn(table, hashes, order, count);
    }
  }

  static constexpr size_t kParallelMinKeys = 4096;

  int64_t dim_;
  size_t row_bytes_;
  RowAccumFn accum_;
  TableBounds bounds_;
  std::atomic<uint64_t> clock_{0};
  std::atomic<uint64_t> next_sweep_{0};
  int shard_bits_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_CPU_HASH_TABLE_H_

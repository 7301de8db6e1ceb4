// TableShard<K>: one lock-free-inside, lock-guarded-outside piece of the CPU
// hash table.
//
// Memory layout (all dense, no per-entry heap node):
//   index_   FlatIndex, slot -> row number (see flat_index.h)
//   keys_    KeyStore<K>, row -> key
//   values_  GrowableBuffer, row r's value bytes at [r * row_bytes, +row_bytes)
// Rows [0, size_) are live. Removing row r moves the last row into r and
// repoints its index slot, so rows never have holes and export is a straight
// copy of two arrays.
//
// Batch methods take the positions of the caller's batch that hash to this
// shard, in batch order (`order`), plus precomputed hashes. Processing in
// batch order gives the documented duplicate-key semantics: within one insert
// the last duplicate wins, within one accum every delta is added in turn.
//
// Lookups pipeline memory accesses: while key k is probed, the index group of
// key k+16 and the candidate row (key and value lines) of key k+8 are
// prefetched, so a batch overlaps its cache misses instead of paying them one
// after another.
//
// Bounded tables (row_meta.h) also keep a RowMeta per row in `meta_`, moved
// with its row, and an admission sketch; writes then refuse keys seen too
// rarely, evict the lowest-ranked rows when the shard exceeds its capacity,
// and treat rows older than the TTL as absent. Their keys are reported in
// the caller's `dropped` list (so that optimizer slot tables can drop them
// too). Plain tables skip all of it: one predictable branch per batch.
//
// Concurrency: none inside. CpuHashTable holds this shard's shared lock for
// find/export and its exclusive lock for every mutation.
#ifndef TFRA_CC_CORE_TABLE_SHARD_H_
#define TFRA_CC_CORE_TABLE_SHARD_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "cc/core/flat_index.h"
#include "cc/core/key_store.h"
#include "cc/core/row_meta.h"
#include "cc/core/status.h"
#include "cc/core/value_type.h"

namespace tfra {
namespace core {

// A shard over its capacity evicts down to capacity - capacity / kEvictSlack
// rows (so capacities below kEvictSlack are exact).
constexpr size_t kEvictSlack = 4;

template <typename K>
class TableShard {
 public:
  using Arg = KeyArg<K>;
  static constexpr size_t kMaxRows = std::numeric_limits<uint32_t>::max();

  // `bounds` (owned by the table, or null for a plain table) and the
  // shard's row capacity (0 = unbounded).
  TableShard(size_t row_bytes, int64_t dim, const TableBounds* bounds = nullptr,
             size_t capacity = 0)
      : row_bytes_(row_bytes), dim_(dim),
        bounds_(bounds != nullptr && bounds->tracking() ? bounds : nullptr),
        capacity_(capacity) {
    if (bounds_ != nullptr && bounds_->admit_after > 1) {
      sketch_.allocate(static_cast<size_t>(bounds_->sketch_width));
    }
  }

  size_t size() const { return size_; }
  const K* keys() const { return keys_.data(); }
  const char* values() const { return values_.data(); }
  const RowMeta* metas() const {
    return reinterpret_cast<const RowMeta*>(meta_.data());
  }
  bool tracking() const { return bounds_ != nullptr; }
  CountMinSketch& sketch() { return sketch_; }
  const CountMinSketch& sketch() const { return sketch_; }

  size_t allocated_bytes() const {
    return index_.allocated_bytes() + keys_.allocated_bytes() +
           values_.capacity() + meta_.capacity() + sketch_.counts().size() +
           evict_scratch_.bytes();
  }

  // Pre-sizes rows and index for `rows` entries (the table's init_size).
  Status reserve(size_t rows) {
    TFRA_CORE_RETURN_IF_ERROR(reserve_rows(rows));
    const size_t groups = FlatIndex::groups_for(rows);
    if (groups > index_.groups() && !rehash(groups)) {
      return ResourceExhausted("out of memory growing the table index");
    }
    return Status::OK();
  }

  int64_t find_row(Arg key, uint64_t hash) const {
    const int64_t slot = find_slot(key, hash);
    return slot < 0 ? int64_t{-1} : static_cast<int64_t>(index_.row_at(slot));
  }

  // out/exists are indexed by batch position; defaults either one row
  // (per_key_defaults == false) or one row per batch position. `now` is the
  // table clock: rows past their TTL read as absent.
  void find_batch(const Arg* keys, const uint64_t* hashes,
                  const uint32_t* order, size_t count, char* out,
                  const char* defaults, bool per_key_defaults,
                  bool* exists, uint64_t now = 0) const {
    const bool expiring = bounds_ != nullptr && bounds_->ttl > 0;
    constexpr size_t kIndexAhead = 16, kRowAhead = 8;
    for (size_t k = 0; k < count; ++k) {
      if (k + kIndexAhead < count) index_.prefetch(hashes[order[k + kIndexAhead]]);
      if (k + kRowAhead < count) prefetch_row(hashes[order[k + kRowAhead]]);
      const uint32_t pos = order[k];
      int64_t row = find_row(keys[pos], hashes[pos]);
      if (expiring && row >= 0 && Expired(meta()[row], now, bounds_->ttl)) {
        row = -1;
      }
      char* dst = out + static_cast<size_t>(pos) * row_bytes_;
      if (row >= 0) {
        std::memcpy(dst, values_.data() + row * row_bytes_, row_bytes_);
      } else {
        const char* src =
            per_key_defaults ? defaults + static_cast<size_t>(pos) * row_bytes_
                             : defaults;
        std::memcpy(dst, src, row_bytes_);
      }
      if (exists != nullptr) exists[pos] = row >= 0;
    }
  }

  // Insert-or-assign in batch order. Bounded tables: `scores` (one per batch
  // position, or null) feed the custom policy, `now` stamps the rows, and
  // refused or evicted keys are appended to `dropped` (may be null).
  Status insert_batch(const Arg* keys, const uint64_t* hashes,
                      const uint32_t* order, size_t count,
                      const char* values, const int64_t* scores = nullptr,
                      uint64_t now = 0, std::vector<K>* dropped = nullptr) {
    TFRA_CORE_RETURN_IF_ERROR(reserve_rows(size_ + count));
    constexpr size_t kIndexAhead = 16;
    if (bounds_ != nullptr) {
      // A tracked write reads its row's metadata (write count, expiry), a
      // load that stalls unless prefetched: index groups 32 keys ahead, then
      // the candidate's key and metadata lines 16 ahead.
      constexpr size_t kTrackedIndexAhead = 32, kMetaAhead = 16;
      for (size_t k = 0; k < count; ++k) {
        if (k + kTrackedIndexAhead < count) {
          index_.prefetch(hashes[order[k + kTrackedIndexAhead]]);
        }
        if (k + kMetaAhead < count) prefetch_meta(hashes[order[k + kMetaAhead]]);
        const uint32_t pos = order[k];
        if (!write_tracked(keys[pos], hashes[pos],
                           values + static_cast<size_t>(pos) * row_bytes_,
                           scores == nullptr ? nullptr : scores + pos, now,
                           dropped)) {
          return ResourceExhausted("out of memory growing the table index");
        }
      }
      evict_excess(dropped);
      return Status::OK();
    }
    for (size_t k = 0; k < count; ++k) {
      if (k + kIndexAhead < count) index_.prefetch(hashes[order[k + kIndexAhead]]);
      const uint32_t pos = order[k];
      const char* src = values + static_cast<size_t>(pos) * row_bytes_;
      const K* ks = keys_.data();
      const Arg key = keys[pos];
      bool found;
      const int64_t slot = index_.find_or_claim(
          hashes[pos], [&](uint32_t r) { return ks[r] == key; }, &found);
      if (found) {
        std::memcpy(values_.data() + index_.row_at(slot) * row_bytes_, src,
                    row_bytes_);
      } else if (slot >= 0) {
        index_.set_row(slot, static_cast<uint32_t>(size_));
        add_row(key, src);
      } else {
        TFRA_CORE_RETURN_IF_ERROR(append(key, hashes[pos], src));
      }
    }
    return Status::OK();
  }

  // Restores rows with their metadata as saved (no admission, no clock):
  // the inverse of an export of a tracking table. A bounded shard given
  // more rows than its capacity (a checkpoint of a bigger table) then
  // evicts by its policy, ranking the rows by their saved metadata, as an
  // insert would.
  Status restore_batch(const Arg* keys, const uint64_t* hashes,
                       const uint32_t* order, size_t count,
                       const char* values, const RowMeta* metas) {
    TFRA_CORE_RETURN_IF_ERROR(reserve_rows(size_ + count));
    for (size_t k = 0; k < count; ++k) {
      const uint32_t pos = order[k];
      const char* src = values + static_cast<size_t>(pos) * row_bytes_;
      const int64_t row = find_row(keys[pos], hashes[pos]);
      if (row >= 0) {
        std::memcpy(values_.data() + row * row_bytes_, src, row_bytes_);
        if (bounds_ != nullptr && metas != nullptr) meta()[row] = metas[pos];
      } else {
        TFRA_CORE_RETURN_IF_ERROR(append(keys[pos], hashes[pos], src,
                                         metas == nullptr ? nullptr : metas + pos));
      }
    }
    if (bounds_ != nullptr) evict_excess(nullptr);
    return Status::OK();
  }

  // Removes every row past its TTL at clock `now`, appending its key to
  // `dropped`. O(rows); the table runs it every ttl/4 steps.
  void sweep_expired(uint64_t now, std::vector<K>* dropped) {
    if (bounds_ == nullptr || bounds_->ttl <= 0) return;
    std::vector<K> victims;
    for (size_t r = 0; r < size_; ++r) {
      if (Expired(meta()[r], now, bounds_->ttl)) victims.push_back(keys_[r]);
    }
    drop(victims, dropped);
  }

  // TFRA accum semantics per position, in batch order:
  //   key present and exists[pos]   -> row += delta
  //   key absent and !exists[pos]   -> insert value
  //   otherwise (state changed since the caller's lookup) -> skipped.
  Status accum_batch(const Arg* keys, const uint64_t* hashes,
                     const uint32_t* order, size_t count, const char* values,
                     const bool* exists, RowAccumFn accum, uint64_t now = 0,
                     std::vector<K>* dropped = nullptr) {
    TFRA_CORE_RETURN_IF_ERROR(reserve_rows(size_ + count));
    for (size_t k = 0; k < count; ++k) {
      const uint32_t pos = order[k];
      const char* src = values + static_cast<size_t>(pos) * row_bytes_;
      int64_t row = find_row(keys[pos], hashes[pos]);
      if (bounds_ != nullptr && row >= 0 &&
          Expired(meta()[row], now, bounds_->ttl)) {
        // An expired row reads as absent, so it is replaced, not added to;
        // a delta for it is skipped and the row left to the sweep, which
        // reports its key (erasing it here would lose it silently).
        if (exists[pos]) continue;
        erase(keys[pos], hashes[pos]);
        row = -1;
      }
      if (row >= 0 && exists[pos]) {
        accum(values_.data() + row * row_bytes_, src, dim_);
        if (bounds_ != nullptr) TouchMeta(&meta()[row], now, nullptr);
      } else if (row < 0 && !exists[pos]) {
        if (!admit(keys[pos], hashes[pos], dropped)) continue;
        const RowMeta fresh = FreshMeta(now, 0);
        TFRA_CORE_RETURN_IF_ERROR(
            append(keys[pos], hashes[pos], src, &fresh));
      }
    }
    evict_excess(dropped);
    return Status::OK();
  }

  void remove_batch(const Arg* keys, const uint64_t* hashes,
                    const uint32_t* order, size_t count) {
    for (size_t k = 0; k < count; ++k) {
      erase(keys[order[k]], hashes[order[k]]);
    }
    // After mass removal give memory back: row pages past the live rows, and
    // the index once its load is under 1/8 (rebuilt at load 1/2, so growth
    // at load 1 and shrinking never alternate). A failed rebuild keeps the
    // old index, which is still correct.
    if (size_ < shrink_mark_ / 4) {
      keys_.release_tail(size_);
      values_.release_tail(size_ * row_bytes_);
      meta_.release_tail(size_ * sizeof(RowMeta));
      shrink_mark_ = size_;
    }
    const size_t groups = index_.groups();
    if (groups > 1 && size_ * 8 < groups * 7) {
      rehash(FlatIndex::groups_for(size_ * 2));
    }
  }

  void clear() {
    index_.release();
    keys_.reset();
    values_.reset();
    meta_.reset();
    evict_scratch_ = EvictScratch();
    size_ = 0;
    shrink_mark_ = 0;
  }

 private:
  int64_t find_slot(Arg key, uint64_t hash) const {
    const K* ks = keys_.data();
    return index_.find_slot(hash, [&](uint32_t row) { return ks[row] == key; });
  }

  void prefetch_meta(uint64_t hash) const {
    const int64_t row = index_.first_candidate(hash);
    if (row < 0 || static_cast<size_t>(row) >= size_) return;
    __builtin_prefetch(keys_.data() + row);
    __builtin_prefetch(meta() + row, 1);
  }

  void prefetch_row(uint64_t hash) const {
    const int64_t row = index_.first_candidate(hash);
    if (row < 0 || static_cast<size_t>(row) >= size_) return;
    __builtin_prefetch(keys_.data() + row);
    const char* v = values_.data() + row * row_bytes_;
    const size_t lines = row_bytes_ < 256 ? row_bytes_ : 256;
    for (size_t off = 0; off < lines; off += 64) __builtin_prefetch(v + off);
  }

  RowMeta* meta() { return reinterpret_cast<RowMeta*>(meta_.data()); }
  const RowMeta* meta() const { return metas(); }

  Status reserve_rows(size_t rows) {
    if (rows > kMaxRows) {
      return ResourceExhausted("table shard row limit (2^32 - 1) reached");
    }
    if (!keys_.reserve(rows) || !values_.reserve(rows * row_bytes_) ||
        (bounds_ != nullptr && !meta_.reserve(rows * sizeof(RowMeta)))) {
      return ResourceExhausted("out of memory reserving table rows");
    }
    return Status::OK();
  }

  // One insert-or-assign of a tracking table: stamps the row; a new key must
  // pass admission; an expired row starts over. Without admission a new key
  // costs one index probe (find_or_claim), as in the plain path. Returns
  // false only when the index cannot grow (out of memory); no Status is
  // built per row on this hot path.
  // Forced inline: as an out-of-line call per key it cost a quarter of the
  // tracked insert throughput (measured), the loop's prefetches and the
  // probe's key comparison no longer overlapping.
  __attribute__((always_inline)) bool write_tracked(
      Arg key, uint64_t hash, const char* src, const int64_t* score,
      uint64_t now, std::vector<K>* dropped) {
    const RowMeta fresh = FreshMeta(now, score == nullptr ? 0 : *score);
    int64_t row;
    if (sketch_.enabled()) {
      row = find_row(key, hash);
      if (row < 0) {
        return !admit(key, hash, dropped) || append(key, hash, src, &fresh).ok();
      }
    } else {
      const K* ks = keys_.data();
      bool found;
      const int64_t slot = index_.find_or_claim(
          hash, [&](uint32_t r) { return ks[r] == key; }, &found);
      if (!found) {
        if (slot < 0) return append(key, hash, src, &fresh).ok();
        index_.set_row(slot, static_cast<uint32_t>(size_));
        add_row(key, src, &fresh);
        return true;
      }
      row = index_.row_at(slot);
    }
    std::memcpy(values_.data() + row * row_bytes_, src, row_bytes_);
    RowMeta& m = meta()[row];
    if (Expired(m, now, bounds_->ttl)) {
      m = fresh;
    } else {
      TouchMeta(&m, now, score);
    }
    return true;
  }

  // Admission of a new key: counts the sighting and refuses the key (into
  // `dropped`) until it has been seen admit_after times.
  bool admit(Arg key, uint64_t hash, std::vector<K>* dropped) {
    if (!sketch_.enabled() ||
        sketch_.add(hash) >= static_cast<uint32_t>(bounds_->admit_after)) {
      return true;
    }
    if (dropped != nullptr) dropped->push_back(K(key));
    return false;
  }

  // Evicts the lowest-ranked rows (row_meta.h) once the shard holds more
  // than its capacity: down to capacity - capacity/4, so that the O(rows)
  // selection amortizes to O(16) per inserted row.
  void evict_excess(std::vector<K>* dropped) {
    if (capacity_ == 0 || size_ <= capacity_) return;
    const size_t keep = capacity_ - capacity_ / kEvictSlack;
    const K* ks = keys_.data();
    SelectVictims(meta(), size_, size_ - keep, bounds_->policy,
                  [ks](uint32_t a, uint32_t b) { return Arg(ks[a]) < Arg(ks[b]); },
                  &evict_scratch_);
    std::vector<K> victims;
    victims.reserve(evict_scratch_.picked.size());
    for (const EvictRank& r : evict_scratch_.picked) victims.push_back(ks[r.row]);
    drop(victims, dropped);
  }

  // Removes `victims` (present keys) and reports them in `dropped`.
  void drop(const std::vector<K>& victims, std::vector<K>* dropped) {
    for (const K& key : victims) erase(Arg(key), HashKey(Arg(key)));
    if (dropped != nullptr) {
      dropped->insert(dropped->end(), victims.begin(), victims.end());
    }
  }

  // Appends a new row; capacity for it was reserved by the caller. `m` is
  // the row's metadata (tracking tables).
  Status append(Arg key, uint64_t hash, const char* value,
                const RowMeta* m = nullptr) {
    if (index_.growth_left() == 0) {
      const size_t groups = index_.groups();
      // Mostly tombstones: rebuild at the same size; otherwise grow 1.5x.
      const size_t target =
          groups == 0 ? 1
                      : (size_ * 2 <= groups * 7 ? groups : FlatIndex::grown(groups));
      if (!rehash(target)) {
        return ResourceExhausted("out of memory growing the table index");
      }
    }
    index_.insert(hash, static_cast<uint32_t>(size_));
    add_row(key, value, m);
    return Status::OK();
  }

  // Writes row `size_` (capacity reserved by the caller) and counts it.
  void add_row(Arg key, const char* value, const RowMeta* m = nullptr) {
    keys_.set(size_, key);
    std::memcpy(values_.data() + size_ * row_bytes_, value, row_bytes_);
    if (bounds_ != nullptr) meta()[size_] = m != nullptr ? *m : FreshMeta(0, 0);
    ++size_;
    if (size_ > shrink_mark_) shrink_mark_ = size_;
  }

  void erase(Arg key, uint64_t hash) {
    const int64_t slot = find_slot(key, hash);
    if (slot < 0) return;
    const uint32_t row = index_.row_at(slot);
    index_.erase(slot);
    const uint32_t last = static_cast<uint32_t>(size_ - 1);
    if (row != last) {
      // Repoint the slot of the last row, found by row number, then move it.
      const int64_t last_slot = index_.find_slot(
          HashKey(Arg(keys_[last])), [&](uint32_t r) { return r == last; });
      index_.set_row(last_slot, row);
      keys_.move_row(last, row);
      std::memcpy(values_.data() + static_cast<size_t>(row) * row_bytes_,
                  values_.data() + static_cast<size_t>(last) * row_bytes_,
                  row_bytes_);
      if (bounds_ != nullptr) meta()[row] = meta()[last];
    }
    keys_.destroy(last);
    --size_;
  }

  // Rebuilds the index with `groups` groups from the dense key array. Rows do
  // not move. Returns false (index unchanged) on allocation failure.
  bool rehash(size_t groups) {
    FlatIndex fresh;
    if (!fresh.allocate(groups)) return false;
    const K* ks = keys_.data();
    for (size_t r = 0; r < size_; ++r) {
      fresh.insert(HashKey(Arg(ks[r])), static_cast<uint32_t>(r));
    }
    index_.swap(fresh);
    return true;
  }

  FlatIndex index_;
  KeyStore<K> keys_;
  GrowableBuffer values_;
  size_t row_bytes_;
  int64_t dim_;
  const TableBounds* bounds_;  // null: a plain table (no metadata)
  size_t capacity_;            // rows; 0 = unbounded
  GrowableBuffer meta_;        // RowMeta per row (tracking tables)
  CountMinSketch sketch_;      // admission counts (admit_after > 1)
  EvictScratch evict_scratch_;  // reused by evict_excess
  size_t size_ = 0;
  size_t shrink_mark_ = 0;  // high-water mark since the last tail release
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_TABLE_SHARD_H_

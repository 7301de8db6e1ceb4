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
// Concurrency: none inside. CpuHashTable holds this shard's shared lock for
// find/export and its exclusive lock for every mutation.
#ifndef TFRA_CC_CORE_TABLE_SHARD_H_
#define TFRA_CC_CORE_TABLE_SHARD_H_

#include <cstdint>
#include <cstring>
#include <limits>

#include "cc/core/flat_index.h"
#include "cc/core/key_store.h"
#include "cc/core/status.h"

namespace tfra {
namespace core {

// Adds `dim` elements of a delta row to a destination row (typed per value
// dtype by the caller; the core only moves bytes).
using RowAccumFn = void (*)(char* dst, const char* delta, int64_t dim);

template <typename K>
class TableShard {
 public:
  using Arg = KeyArg<K>;
  static constexpr size_t kMaxRows = std::numeric_limits<uint32_t>::max();

  TableShard(size_t row_bytes, int64_t dim) : row_bytes_(row_bytes), dim_(dim) {}

  size_t size() const { return size_; }
  const K* keys() const { return keys_.data(); }
  const char* values() const { return values_.data(); }

  size_t allocated_bytes() const {
    return index_.allocated_bytes() + keys_.allocated_bytes() +
           values_.capacity();
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
  // (per_key_defaults == false) or one row per batch position.
  void find_batch(const Arg* keys, const uint64_t* hashes,
                  const uint32_t* order, size_t count, char* out,
                  const char* defaults, bool per_key_defaults,
                  bool* exists) const {
    constexpr size_t kIndexAhead = 16, kRowAhead = 8;
    for (size_t k = 0; k < count; ++k) {
      if (k + kIndexAhead < count) index_.prefetch(hashes[order[k + kIndexAhead]]);
      if (k + kRowAhead < count) prefetch_row(hashes[order[k + kRowAhead]]);
      const uint32_t pos = order[k];
      const int64_t row = find_row(keys[pos], hashes[pos]);
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

  Status insert_batch(const Arg* keys, const uint64_t* hashes,
                      const uint32_t* order, size_t count,
                      const char* values) {
    TFRA_CORE_RETURN_IF_ERROR(reserve_rows(size_ + count));
    constexpr size_t kIndexAhead = 16;
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

  // TFRA accum semantics per position, in batch order:
  //   key present and exists[pos]   -> row += delta
  //   key absent and !exists[pos]   -> insert value
  //   otherwise (state changed since the caller's lookup) -> skipped.
  Status accum_batch(const Arg* keys, const uint64_t* hashes,
                     const uint32_t* order, size_t count, const char* values,
                     const bool* exists, RowAccumFn accum) {
    TFRA_CORE_RETURN_IF_ERROR(reserve_rows(size_ + count));
    for (size_t k = 0; k < count; ++k) {
      const uint32_t pos = order[k];
      const char* src = values + static_cast<size_t>(pos) * row_bytes_;
      const int64_t row = find_row(keys[pos], hashes[pos]);
      if (row >= 0 && exists[pos]) {
        accum(values_.data() + row * row_bytes_, src, dim_);
      } else if (row < 0 && !exists[pos]) {
        TFRA_CORE_RETURN_IF_ERROR(append(keys[pos], hashes[pos], src));
      }
    }
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
    size_ = 0;
    shrink_mark_ = 0;
  }

 private:
  int64_t find_slot(Arg key, uint64_t hash) const {
    const K* ks = keys_.data();
    return index_.find_slot(hash, [&](uint32_t row) { return ks[row] == key; });
  }

  void prefetch_row(uint64_t hash) const {
    const int64_t row = index_.first_candidate(hash);
    if (row < 0 || static_cast<size_t>(row) >= size_) return;
    __builtin_prefetch(keys_.data() + row);
    const char* v = values_.data() + row * row_bytes_;
    const size_t lines = row_bytes_ < 256 ? row_bytes_ : 256;
    for (size_t off = 0; off < lines; off += 64) __builtin_prefetch(v + off);
  }

  Status reserve_rows(size_t rows) {
    if (rows > kMaxRows) {
      return ResourceExhausted("table shard row limit (2^32 - 1) reached");
    }
    if (!keys_.reserve(rows) || !values_.reserve(rows * row_bytes_)) {
      return ResourceExhausted("out of memory reserving table rows");
    }
    return Status::OK();
  }

  // Appends a new row; capacity for it was reserved by the caller.
  Status append(Arg key, uint64_t hash, const char* value) {
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
    add_row(key, value);
    return Status::OK();
  }

  // Writes row `size_` (capacity reserved by the caller) and counts it.
  void add_row(Arg key, const char* value) {
    keys_.set(size_, key);
    std::memcpy(values_.data() + size_ * row_bytes_, value, row_bytes_);
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
  size_t size_ = 0;
  size_t shrink_mark_ = 0;  // high-water mark since the last tail release
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_TABLE_SHARD_H_

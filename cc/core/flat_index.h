// FlatIndex: the open-addressing index of one table shard.
//
// Layout: `capacity = 8 * groups` slots, in two parallel arrays sharing one
// allocation (control bytes first, row numbers after them):
//   ctrl_[slot]  1 byte: kEmpty (0x80), kDeleted (0xFE) or, for a full slot,
//                the key hash's low 7 bits (a fingerprint, 0..127).
//   rows_[slot]  4 bytes: the dense row number holding the key and value.
// Index memory is therefore 5 bytes per slot. The group count is any
// integer (not a power of two) and grows by 1.5x, so with the 7/8 maximum
// load a shard spends 5.7 to 8.6 index bytes per stored row.
//
// Probing: slots are read a group (8 control bytes = one uint64) at a time.
// The home group is ((hash >> 7) & 0xFFFFFFFF) * groups >> 32, a
// multiply-shift range reduction over hash bits 7..38 (disjoint from the
// fingerprint bits 0..6 and from the shard bits 58..63). Later groups follow
// linearly (wrapping), so a probe sequence walks adjacent control words,
// usually within one cache line. SWAR bit tricks compare all 8 fingerprints
// at once; a candidate is confirmed by comparing the real key (the caller's
// callback), so fingerprint false positives cost one key read and never a
// wrong answer. A lookup stops at the first group holding an empty slot.
//
// Deletion keeps that stop rule sound: a slot becomes kEmpty only if its group
// already had an empty slot (so no probe sequence ever continued past it);
// otherwise it becomes a tombstone (kDeleted) that lookups skip and inserts
// reuse. Tombstones count against the load; a rehash drops them.
//
// The allocation is a GrowableBuffer, so a large index is a private mapping
// returned to the OS when a rehash frees it.
//
// Concurrency: none here. The shard's reader-writer lock guards the index.
#ifndef TFRA_CC_CORE_FLAT_INDEX_H_
#define TFRA_CC_CORE_FLAT_INDEX_H_

#include <cstdint>
#include <cstring>

#include "cc/core/growable_buffer.h"
#include "cc/core/hash.h"

namespace tfra {
namespace core {

class FlatIndex {
 public:
  static constexpr uint8_t kEmpty = 0x80;
  static constexpr uint8_t kDeleted = 0xFE;
  static constexpr uint64_t kLsbs = 0x0101010101010101ULL;
  static constexpr uint64_t kMsbs = 0x8080808080808080ULL;
  static constexpr int64_t kNotFound = -1;

  FlatIndex() = default;
  FlatIndex(const FlatIndex&) = delete;
  FlatIndex& operator=(const FlatIndex&) = delete;

  size_t groups() const { return groups_; }
  size_t capacity() const { return groups_ * 8; }
  size_t growth_left() const { return growth_left_; }
  size_t allocated_bytes() const { return buf_.capacity(); }

  // Allocates an empty index of `groups` groups. Returns false and leaves the
  // index untouched when memory is unavailable.
  bool allocate(size_t groups) {
    const size_t cap = groups * 8;
    GrowableBuffer buf;
    if (!buf.allocate_exact(cap * (1 + sizeof(uint32_t)))) return false;
    std::memset(buf.data(), kEmpty, cap);
    buf_.swap(buf);
    groups_ = groups;
    growth_left_ = groups * 7;
    return true;
  }

  void swap(FlatIndex& other) {
    buf_.swap(other.buf_);
    std::swap(groups_, other.groups_);
    std::swap(growth_left_, other.growth_left_);
  }

  void release() {
    buf_.reset();
    groups_ = 0;
    growth_left_ = 0;
  }

  // Smallest group count whose 7/8 load holds `rows`.
  static size_t groups_for(size_t rows) { return rows == 0 ? 1 : (rows + 6) / 7; }
  // The group count to grow to from `groups` (x1.5).
  static size_t grown(size_t groups) { return groups < 2 ? 2 : groups + groups / 2; }

  void prefetch(uint64_t hash) const {
    if (groups_ == 0) return;
    const size_t g = home(hash);
    __builtin_prefetch(ctrl() + g * 8);
    __builtin_prefetch(rows() + g * 8);
  }

  // Row number of the first fingerprint match in the key's home group, or
  // kNotFound. Used only to issue prefetches ahead of the real probe.
  int64_t first_candidate(uint64_t hash) const {
    if (groups_ == 0) return kNotFound;
    const size_t g = home(hash);
    const uint64_t m = match(load(g), hash & 0x7F);
    if (m == 0) return kNotFound;
    return rows()[g * 8 + (__builtin_ctzll(m) >> 3)];
  }

  // Probes for a key. `is_key(row)` must say whether dense row `row` holds
  // the key being searched. Returns the slot number or kNotFound.
  template <typename IsKey>
  int64_t find_slot(uint64_t hash, IsKey&& is_key) const {
    if (groups_ == 0) return kNotFound;
    const uint8_t h2 = hash & 0x7F;
    size_t g = home(hash);
    for (size_t visited = 0; visited < groups_; ++visited) {
      const uint64_t word = load(g);
      for (uint64_t m = match(word, h2); m != 0; m &= m - 1) {
        const size_t slot = g * 8 + (__builtin_ctzll(m) >> 3);
        if (is_key(rows()[slot])) return static_cast<int64_t>(slot);
      }
      if (match_empty(word) != 0) return kNotFound;
      g = next(g);
    }
    return kNotFound;
  }

  // One probe for insert-or-assign. Returns the key's slot with *found set,
  // or, when the key is absent and the load allows another entry, claims the
  // slot insert() would have chosen (fingerprint set, row left for the
  // caller's set_row) and returns it with *found clear. Returns kNotFound
  // when the key is absent and the index is full (the caller grows it).
  template <typename IsKey>
  int64_t find_or_claim(uint64_t hash, IsKey&& is_key, bool* found) {
    *found = false;
    if (groups_ == 0) return kNotFound;
    const uint8_t h2 = hash & 0x7F;
    int64_t free_slot = kNotFound;
    size_t g = home(hash);
    for (size_t visited = 0; visited < groups_; ++visited) {
      const uint64_t word = load(g);
      for (uint64_t m = match(word, h2); m != 0; m &= m - 1) {
        const size_t slot = g * 8 + (__builtin_ctzll(m) >> 3);
        if (is_key(rows()[slot])) {
          *found = true;
          return static_cast<int64_t>(slot);
        }
      }
      if (free_slot == kNotFound && (word & kMsbs) != 0) {
        free_slot = static_cast<int64_t>(g * 8 + (__builtin_ctzll(word & kMsbs) >> 3));
      }
      if (match_empty(word) != 0) break;
      g = next(g);
    }
    if (free_slot == kNotFound) return kNotFound;
    if (ctrl()[free_slot] == kEmpty) {
      if (growth_left_ == 0) return kNotFound;
      --growth_left_;
    }
    ctrl()[free_slot] = h2;
    return free_slot;
  }

  uint32_t row_at(size_t slot) const { return rows()[slot]; }
  void set_row(size_t slot, uint32_t row) { rows()[slot] = row; }

  // Places a new entry; the caller ensured growth_left() > 0 and that the key
  // is absent. Returns the slot used.
  size_t insert(uint64_t hash, uint32_t row) {
    size_t g = home(hash);
    for (;;) {
      const uint64_t free_mask = load(g) & kMsbs;  // empty or deleted
      if (free_mask != 0) {
        const size_t slot = g * 8 + (__builtin_ctzll(free_mask) >> 3);
        if (ctrl()[slot] == kEmpty) --growth_left_;
        ctrl()[slot] = static_cast<uint8_t>(hash & 0x7F);
        rows()[slot] = row;
        return slot;
      }
      g = next(g);
    }
  }

  void erase(size_t slot) {
    if (match_empty(load(slot / 8)) != 0) {
      ctrl()[slot] = kEmpty;
      ++growth_left_;
    } else {
      ctrl()[slot] = kDeleted;
    }
  }

 private:
  // Control bytes at offset 0; row numbers after them (capacity is a
  // multiple of 8, so they stay 4-byte aligned).
  uint8_t* ctrl() { return reinterpret_cast<uint8_t*>(buf_.data()); }
  const uint8_t* ctrl() const {
    return reinterpret_cast<const uint8_t*>(buf_.data());
  }
  uint32_t* rows() {
    return reinterpret_cast<uint32_t*>(buf_.data() + capacity());
  }
  const uint32_t* rows() const {
    return reinterpret_cast<const uint32_t*>(buf_.data() + capacity());
  }
  size_t home(uint64_t hash) const {
    return static_cast<size_t>(((hash >> 7) & 0xFFFFFFFFULL) * groups_ >> 32);
  }
  size_t next(size_t g) const { return g + 1 == groups_ ? 0 : g + 1; }
  uint64_t load(size_t group) const {
    return LoadLE64(reinterpret_cast<const char*>(ctrl() + group * 8));
  }
  static uint64_t match(uint64_t word, uint64_t h2) {
    const uint64_t x = word ^ (kLsbs * h2);
    return (x - kLsbs) & ~x & kMsbs;
  }
  static uint64_t match_empty(uint64_t word) {
    return word & ~(word << 6) & kMsbs;
  }

  GrowableBuffer buf_;
  size_t groups_ = 0;
  size_t growth_left_ = 0;
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_FLAT_INDEX_H_

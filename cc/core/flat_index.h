// FlatIndex: the open-addressing index of one table shard.
//
// Layout: `capacity = 8 * groups` slots, groups a power of two. Two parallel
// arrays:
//   ctrl_[slot]  1 byte: kEmpty (0x80), kDeleted (0xFE) or, for a full slot,
//                the key hash's low 7 bits (a fingerprint, 0..127).
//   rows_[slot]  4 bytes: the dense row number holding the key and value.
// Index memory is therefore 5 bytes per slot; with the 7/8 maximum load a
// shard spends 5.7 to 11.4 index bytes per stored row.
//
// Probing: slots are read a group (8 control bytes = one uint64) at a time.
// The first group is (hash >> 7) & mask; later groups follow the triangular
// sequence g, g+1, g+3, g+6, ... which visits every group when the group
// count is a power of two. SWAR bit tricks compare all 8 fingerprints at once;
// a candidate is confirmed by comparing the real key (the caller's callback),
// so fingerprint false positives cost one key read and never a wrong answer.
// A lookup stops at the first group holding an empty slot.
//
// Deletion keeps that stop rule sound: a slot becomes kEmpty only if its group
// already had an empty slot (so no probe sequence ever continued past it);
// otherwise it becomes a tombstone (kDeleted) that lookups skip and inserts
// reuse. Tombstones count against the load; a rehash drops them.
//
// Concurrency: none here. The shard's reader-writer lock guards the index.
#ifndef TFRA_CC_CORE_FLAT_INDEX_H_
#define TFRA_CC_CORE_FLAT_INDEX_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

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
  ~FlatIndex() { release(); }

  size_t capacity() const { return (mask_ + 1) * 8 * (ctrl_ != nullptr); }
  size_t groups() const { return ctrl_ == nullptr ? 0 : mask_ + 1; }
  size_t growth_left() const { return growth_left_; }
  size_t allocated_bytes() const { return capacity() * (1 + sizeof(uint32_t)); }

  // Allocates an empty index of `groups` groups (power of two). Returns false
  // and leaves the index untouched when memory is unavailable.
  bool allocate(size_t groups) {
    const size_t cap = groups * 8;
    uint8_t* ctrl = static_cast<uint8_t*>(std::malloc(cap));
    uint32_t* rows =
        static_cast<uint32_t*>(std::malloc(cap * sizeof(uint32_t)));
    if (ctrl == nullptr || rows == nullptr) {
      std::free(ctrl);
      std::free(rows);
      return false;
    }
    release();
    std::memset(ctrl, kEmpty, cap);
    ctrl_ = ctrl;
    rows_ = rows;
    mask_ = groups - 1;
    growth_left_ = groups * 7;
    return true;
  }

  void swap(FlatIndex& other) {
    std::swap(ctrl_, other.ctrl_);
    std::swap(rows_, other.rows_);
    std::swap(mask_, other.mask_);
    std::swap(growth_left_, other.growth_left_);
  }

  void release() {
    std::free(ctrl_);
    std::free(rows_);
    ctrl_ = nullptr;
    rows_ = nullptr;
    mask_ = 0;
    growth_left_ = 0;
  }

  // Smallest power-of-two group count whose 7/8 load holds `rows`.
  static size_t groups_for(size_t rows) {
    size_t g = 1;
    while (g * 7 < rows) g <<= 1;
    return g;
  }

  void prefetch(uint64_t hash) const {
    if (ctrl_ == nullptr) return;
    const size_t g = (hash >> 7) & mask_;
    __builtin_prefetch(ctrl_ + g * 8);
    __builtin_prefetch(rows_ + g * 8);
  }

  // Row number of the first fingerprint match in the key's home group, or
  // kNotFound. Used only to issue prefetches ahead of the real probe.
  int64_t first_candidate(uint64_t hash) const {
    if (ctrl_ == nullptr) return kNotFound;
    const size_t g = (hash >> 7) & mask_;
    const uint64_t m = match(load(g), hash & 0x7F);
    if (m == 0) return kNotFound;
    return rows_[g * 8 + (__builtin_ctzll(m) >> 3)];
  }

  // Probes for a key. `is_key(row)` must say whether dense row `row` holds
  // the key being searched. Returns the slot number or kNotFound.
  template <typename IsKey>
  int64_t find_slot(uint64_t hash, IsKey&& is_key) const {
    if (ctrl_ == nullptr) return kNotFound;
    const uint8_t h2 = hash & 0x7F;
    size_t g = (hash >> 7) & mask_;
    for (size_t step = 1;; ++step) {
      const uint64_t word = load(g);
      for (uint64_t m = match(word, h2); m != 0; m &= m - 1) {
        const size_t slot = g * 8 + (__builtin_ctzll(m) >> 3);
        if (is_key(rows_[slot])) return static_cast<int64_t>(slot);
      }
      if (match_empty(word) != 0) return kNotFound;
      if (step > mask_) return kNotFound;  // visited every group
      g = (g + step) & mask_;
    }
  }

  uint32_t row_at(size_t slot) const { return rows_[slot]; }
  void set_row(size_t slot, uint32_t row) { rows_[slot] = row; }

  // Places a new entry; the caller ensured growth_left() > 0 and that the key
  // is absent. Returns the slot used.
  size_t insert(uint64_t hash, uint32_t row) {
    size_t g = (hash >> 7) & mask_;
    for (size_t step = 1;; ++step) {
      const uint64_t free_mask = load(g) & kMsbs;  // empty or deleted
      if (free_mask != 0) {
        const size_t slot = g * 8 + (__builtin_ctzll(free_mask) >> 3);
        if (ctrl_[slot] == kEmpty) --growth_left_;
        ctrl_[slot] = static_cast<uint8_t>(hash & 0x7F);
        rows_[slot] = row;
        return slot;
      }
      g = (g + step) & mask_;
    }
  }

  void erase(size_t slot) {
    const size_t g = slot / 8;
    if (match_empty(load(g)) != 0) {
      ctrl_[slot] = kEmpty;
      ++growth_left_;
    } else {
      ctrl_[slot] = kDeleted;
    }
  }

 private:
  uint64_t load(size_t group) const { return LoadLE64(
      reinterpret_cast<const char*>(ctrl_ + group * 8)); }
  static uint64_t match(uint64_t word, uint64_t h2) {
    const uint64_t x = word ^ (kLsbs * h2);
    return (x - kLsbs) & ~x & kMsbs;
  }
  static uint64_t match_empty(uint64_t word) {
    return word & ~(word << 6) & kMsbs;
  }

  uint8_t* ctrl_ = nullptr;
  uint32_t* rows_ = nullptr;
  size_t mask_ = 0;
  size_t growth_left_ = 0;
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_FLAT_INDEX_H_

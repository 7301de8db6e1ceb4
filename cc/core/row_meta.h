// Bookkeeping of bounded tables: per-row metadata, eviction order, and the
// admission sketch. TensorFlow-free.
//
// A table created with TableBounds::track (implied by a capacity, a TTL or
// admission) keeps one RowMeta per row, in an array parallel to the rows
// (row r's metadata at meta[r]; it moves with the row when a removal moves
// the last row into a hole). Time is the table's clock: a counter advanced
// by every insert/accum call (one per training step and lookup), so TTLs
// and recency are in steps, as DeepRec's steps_to_live.
//
//   version  the clock of the row's last write (LRU order, TTL age, delta
//            export: rows with version > since changed since `since`)
//   freq     writes since the row was inserted, saturating (LFU order)
//   score    the caller's score of the last write (custom policy)
//
// Eviction order (first evicted first), ties always broken by older
// version, then smaller key, so the order is total and deterministic:
//   kLru, kTtl   version
//   kLfu         freq
//   kCustom      score
#ifndef TFRA_CC_CORE_ROW_META_H_
#define TFRA_CC_CORE_ROW_META_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cc/core/status.h"

namespace tfra {
namespace core {

enum class EvictPolicy : int32_t { kLru = 0, kLfu = 1, kTtl = 2, kCustom = 3 };

struct TableBounds {
  bool track = false;            // keep RowMeta (implied by the fields below)
  EvictPolicy policy = EvictPolicy::kLru;
  int64_t max_capacity = 0;      // rows per table, 0 = unbounded; split
                                 // exactly over the shards (at most
                                 // max_capacity shards)
  int64_t ttl = 0;               // steps without a write before a row
                                 // expires; 0 = never
  int32_t admit_after = 0;       // sightings (writes) before a new key gets
                                 // a row; <= 1 admits at once; at most 255
  int64_t sketch_width = 4096;   // admission counters per sketch row, per
                                 // shard (a power of two)

  bool tracking() const {
    return track || max_capacity > 0 || ttl > 0 || admit_after > 1;
  }
};

struct RowMeta {
  uint64_t version;
  int64_t score;
  uint32_t freq;
  uint32_t unused;
};

inline RowMeta FreshMeta(uint64_t now, int64_t score) {
  return RowMeta{now, score, 1, 0};
}

inline void TouchMeta(RowMeta* m, uint64_t now, const int64_t* score) {
  m->version = now;
  if (m->freq != UINT32_MAX) ++m->freq;
  if (score != nullptr) m->score = *score;
}

// Whether a row last written at `version` has expired at clock `now`.
inline bool Expired(const RowMeta& m, uint64_t now, int64_t ttl) {
  return ttl > 0 && now > m.version + static_cast<uint64_t>(ttl);
}

// InvalidArgument unless the bounds are valid for any bounded backend.
inline Status CheckTableBounds(const TableBounds& b) {
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


// The eviction key of a row: smaller evicts first (see the file comment).
inline int64_t PrimaryScore(const RowMeta& m, EvictPolicy policy) {
  switch (policy) {
    case EvictPolicy::kLfu: return static_cast<int64_t>(m.freq);
    case EvictPolicy::kCustom: return m.score;
    default: return static_cast<int64_t>(m.version);
  }
}

// PrimaryScore with the version folded in where it fits (LFU: the write
// count above 40 bits of version), so that eviction's selection compares
// one integer and meets ties only between rows equal in both. Orders rows
// exactly as (PrimaryScore, version) while the count is below 2^23 and the
// clock below 2^40.
inline int64_t PackedScore(const RowMeta& m, EvictPolicy policy) {
  if (policy == EvictPolicy::kLfu) {
    constexpr uint64_t kVersionBits = 40;
    const uint64_t freq = std::min<uint64_t>(m.freq, (1ull << 23) - 1);
    const uint64_t version =
        std::min<uint64_t>(m.version, (1ull << kVersionBits) - 1);
    return static_cast<int64_t>((freq << kVersionBits) | version);
  }
  return PrimaryScore(m, policy);
}

// A row's place in the eviction order, for the selection below.
struct EvictRank {
  int64_t packed;
  uint64_t version;
  uint32_t row;
};

// Buffers of SelectVictims, kept by the caller across calls so that an
// eviction allocates nothing; `picked` holds the result.
struct EvictScratch {
  std::vector<int64_t> scores;
  std::vector<EvictRank> picked, ties;
  size_t bytes() const {
    return scores.capacity() * sizeof(int64_t) +
           (picked.capacity() + ties.capacity()) * sizeof(EvictRank);
  }
};

// The `excess` (>= 1) first rows in eviction order among rows [0, n), into
// scratch->picked in that order. Two passes over plain integers: the
// excess-th smallest packed score is the threshold; rows below it go, and
// only the rows tied with it are ordered by (version, key) to fill the
// rest. key_less(a, b) compares the keys of rows a and b. O(n).
template <typename KeyLess>
void SelectVictims(const RowMeta* m, size_t n, size_t excess,
                   EvictPolicy policy, KeyLess key_less,
                   EvictScratch* scratch) {
  std::vector<int64_t>& scores = scratch->scores;
  scores.resize(n);
  for (size_t r = 0; r < n; ++r) scores[r] = PackedScore(m[r], policy);
  std::nth_element(scores.begin(), scores.begin() + (excess - 1),
                   scores.end());
  const int64_t threshold = scores[excess - 1];
  std::vector<EvictRank>& picked = scratch->picked;
  std::vector<EvictRank>& ties = scratch->ties;
  picked.clear();
  ties.clear();
  for (size_t r = 0; r < n; ++r) {
    const int64_t p = PackedScore(m[r], policy);
    if (p <= threshold) {
      (p < threshold ? picked : ties)
          .push_back(EvictRank{p, m[r].version, static_cast<uint32_t>(r)});
    }
  }
  auto first = [&key_less](const EvictRank& a, const EvictRank& b) {
    if (a.packed != b.packed) return a.packed < b.packed;
    if (a.version != b.version) return a.version < b.version;
    return key_less(a.row, b.row);
  };
  const size_t from_ties = excess - picked.size();
  if (from_ties < ties.size()) {
    std::nth_element(ties.begin(), ties.begin() + from_ties, ties.end(), first);
  }
  picked.insert(picked.end(), ties.begin(), ties.begin() + from_ties);
  std::sort(picked.begin(), picked.end(), first);
}

// Count-min sketch of key sightings for admission: kDepth rows of `width`
// saturating 8-bit counters, conservative update (only the row minima are
// raised), and aging: after 10 * width sightings every counter is halved,
// so counts reflect the recent stream. One sketch per table shard, guarded
// by the shard's lock. Sketches of equal width add up elementwise into the
// sketch of the union of their streams, which is how a table exports one
// sketch and how a restore seeds every shard with it.
class CountMinSketch {
 public:
  static constexpr int kDepth = 4;
  static constexpr uint32_t kMax = 255;

  bool enabled() const { return width_ != 0; }
  size_t width() const { return width_; }
  const std::vector<uint8_t>& counts() const { return counts_; }

  void allocate(size_t width) {
    width_ = width;
    counts_.assign(kDepth * width, 0);
    sightings_ = 0;
  }

  // Records one sighting of a key (by its hash); returns its new estimate.
  uint32_t add(uint64_t hash) {
    size_t cell[kDepth];
    uint32_t least = kMax;
    for (int d = 0; d < kDepth; ++d) {
      cell[d] = d * width_ + slot(hash, d);
      least = std::min<uint32_t>(least, counts_[cell[d]]);
    }
    if (least < kMax) {
      for (int d = 0; d < kDepth; ++d) {
        if (counts_[cell[d]] == least) ++counts_[cell[d]];
      }
      ++least;
    }
    if (++sightings_ >= 10 * width_) halve();
    return least;
  }

  uint32_t estimate(uint64_t hash) const {
    uint32_t least = kMax;
    for (int d = 0; d < kDepth; ++d) {
      least = std::min<uint32_t>(least, counts_[d * width_ + slot(hash, d)]);
    }
    return least;
  }

  // Adds this sketch's counters into sums[kDepth * width].
  void add_to(int32_t* sums) const {
    for (size_t i = 0; i < counts_.size(); ++i) sums[i] += counts_[i];
  }

  // Replaces the counters with `sums` (clamped to kMax).
  void assign(const int32_t* sums) {
    for (size_t i = 0; i < counts_.size(); ++i) {
      counts_[i] = static_cast<uint8_t>(
          std::min<int32_t>(std::max<int32_t>(sums[i], 0), kMax));
    }
  }

 private:
  // Row d's cell: the key hash remixed per row (shards are chosen by the
  // hash's top bits, so keys of one shard share them; mixing spreads them).
  size_t slot(uint64_t hash, int d) const {
    uint64_t x = hash ^ (0x9E3779B97F4A7C15ull * (2 * d + 1));
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return static_cast<size_t>(x & (width_ - 1));
  }

  void halve() {
    for (uint8_t& c : counts_) c >>= 1;
    sightings_ /= 2;
  }

  std::vector<uint8_t> counts_;
  size_t width_ = 0;
  uint64_t sightings_ = 0;
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_ROW_META_H_

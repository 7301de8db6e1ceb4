// Helpers of the bounded-table tests (bounds_test.cc,
// bounds_roundtrip_test.cc): key makers, a random call generator, table
// state as a std::map, and RefTable, a std::map model of a one-shard
// bounded table that applies the documented rules of row_meta.h and
// table_shard.h literally.
#ifndef TFRA_CC_CORE_TESTS_BOUNDS_REFERENCE_H_
#define TFRA_CC_CORE_TESTS_BOUNDS_REFERENCE_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cc/core/cpu_hash_table.h"
#include "cc/core/tests/test_util.h"

namespace tfra {
namespace core {
namespace bounds_testing {

constexpr int64_t kDim = 2;

using testing_util::Scale;
using testing_util::ThreadsPF;

// Key number -> key: int64 keys of both signs; string keys with a NUL byte.
template <typename K> K Key(int64_t id);
template <> inline int64_t Key<int64_t>(int64_t id) { return id * 37 - 1000; }
template <> inline std::string Key<std::string>(int64_t id) {
  return std::string("id\0", 3) + std::to_string(id);
}

template <typename K>
std::vector<KeyArg<K>> Args(const std::vector<K>& keys) {
  return std::vector<KeyArg<K>>(keys.begin(), keys.end());
}

template <typename K>
std::unique_ptr<CpuHashTable<K>> MakeBounded(const TableBounds& bounds,
                                             int shards, int64_t dim = kDim) {
  CpuHashTableOptions opt;
  opt.dim = dim;
  opt.num_shards = shards;
  opt.bounds = bounds;
  std::unique_ptr<CpuHashTable<K>> t;
  EXPECT_TRUE(CpuHashTable<K>::Create(opt, &t).ok());
  return t;
}

// A row as the table exports it: value and bookkeeping.
struct RowState {
  std::vector<float> value;
  uint64_t version;
  uint32_t freq;
  int64_t score;
  bool operator==(const RowState& o) const {
    return value == o.value && version == o.version && freq == o.freq &&
           score == o.score;
  }
};
inline std::ostream& operator<<(std::ostream& os, const RowState& r) {
  os << "{v=" << r.value[0] << " ver=" << r.version << " freq=" << r.freq
     << " score=" << r.score << "}";
  return os;
}

// The live rows of the table (export_snapshot, which leaves out rows past
// their TTL).
template <typename K>
std::map<K, RowState> Content(const CpuHashTable<K>& t) {
  std::map<K, RowState> rows;
  const int64_t dim = t.dim();
  EXPECT_TRUE(t.export_snapshot(
      [](size_t) { return Status::OK(); },
      [&](const K* k, const char* v, const RowMeta* m, size_t c) {
        const float* f = reinterpret_cast<const float*>(v);
        for (size_t i = 0; i < c; ++i) {
          rows[k[i]] = RowState{std::vector<float>(f + i * dim, f + (i + 1) * dim),
                                m[i].version, m[i].freq, m[i].score};
        }
        return Status::OK();
      }).ok());
  return rows;
}

// The differences between two row maps, one line per key ("" if equal),
// so a failure names the keys that differ instead of printing both maps.
template <typename K>
std::string RowDiff(const std::map<K, RowState>& got,
                    const std::map<K, RowState>& want) {
  std::ostringstream os;
  auto g = got.begin();
  auto w = want.begin();
  while (g != got.end() || w != want.end()) {
    if (w == want.end() || (g != got.end() && g->first < w->first)) {
      os << "unexpected key " << ::testing::PrintToString(g->first) << " "
         << g->second << "\n";
      ++g;
    } else if (g == got.end() || w->first < g->first) {
      os << "missing key " << ::testing::PrintToString(w->first) << " "
         << w->second << "\n";
      ++w;
    } else {
      if (!(g->second == w->second)) {
        os << "key " << ::testing::PrintToString(g->first) << ": " << g->second
           << " != " << w->second << "\n";
      }
      ++g;
      ++w;
    }
  }
  return os.str();
}

// Rows per shard of the given live keys, routed as CpuHashTable documents:
// shard = hash >> (64 - log2(shards)).
template <typename K>
std::vector<size_t> ShardCounts(const std::map<K, RowState>& rows,
                                size_t shards) {
  const int bits = __builtin_ctzll(shards);
  std::vector<size_t> counts(shards, 0);
  for (const auto& kv : rows) {
    const uint64_t h = HashKey(KeyArg<K>(kv.first));
    ++counts[bits == 0 ? 0 : h >> (64 - bits)];
  }
  return counts;
}

// Advances the clock with empty writes until a sweep has removed every
// expired row (so the rows an export shows are all the table holds),
// appending the swept keys to `dropped`.
template <typename K>
void SweepUntilClean(CpuHashTable<K>* t, std::vector<K>* dropped) {
  const KeyArg<K> none{};
  for (int i = 0; i < 1000 && static_cast<int64_t>(Content(*t).size()) != t->size();
       ++i) {
    ASSERT_TRUE(t->insert(&none, 0, nullptr, nullptr, dropped, {}).ok());
  }
  ASSERT_EQ(static_cast<int64_t>(Content(*t).size()), t->size());
}

// One write call: insert (with optional scores) or accum (with exists).
template <typename K>
struct Batch {
  bool accum = false;
  std::vector<K> keys;
  std::vector<float> values;    // keys.size() * kDim
  std::vector<int64_t> scores;  // empty: no scores
  std::vector<char> exists;     // accum only
};

template <typename K>
std::vector<K> Apply(CpuHashTable<K>* t, const Batch<K>& b,
                     const ParallelFor& pf = {}) {
  const auto args = Args(b.keys);
  const char* vals = reinterpret_cast<const char*>(b.values.data());
  std::vector<K> dropped;
  Status st;
  if (b.accum) {
    std::unique_ptr<bool[]> ex(new bool[b.keys.size()]);
    for (size_t i = 0; i < b.keys.size(); ++i) ex[i] = b.exists[i] != 0;
    st = t->accum(args.data(), args.size(), vals, ex.get(), &dropped, pf);
  } else {
    st = t->insert(args.data(), args.size(), vals,
                   b.scores.empty() ? nullptr : b.scores.data(), &dropped, pf);
  }
  EXPECT_TRUE(st.ok()) << st.message();
  return dropped;
}

// The documented rules, literally, for a one-shard table whose admission
// sketch counts exactly (no collisions, no halving).
template <typename K>
class RefTable {
 public:
  // Keys a call reports: refusals and evictions in order, then the sweep's
  // victims (in row order in the table, so compared as a set).
  struct Dropped {
    std::vector<K> ordered;
    std::vector<K> swept;
  };

  explicit RefTable(const TableBounds& b)
      : b_(b), next_sweep_(SweepInterval()) {}

  std::map<K, RowState> rows;  // expired rows stay until swept
  uint64_t clock = 0;

  // The rows an export shows: those not expired at the clock.
  std::map<K, RowState> Live() const {
    std::map<K, RowState> live;
    for (const auto& kv : rows) {
      if (!Expired(kv.second, clock)) live.insert(kv);
    }
    return live;
  }

  bool Expired(const RowState& r, uint64_t now) const {
    return b_.ttl > 0 && now > r.version + static_cast<uint64_t>(b_.ttl);
  }
  bool Present(const K& key) const {
    auto it = rows.find(key);
    return it != rows.end() && !Expired(it->second, clock);
  }

  Dropped Apply(const Batch<K>& b) {
    Dropped out;
    const uint64_t now = ++clock;
    for (size_t i = 0; i < b.keys.size(); ++i) {
      const K& key = b.keys[i];
      std::vector<float> v(b.values.begin() + i * kDim,
                           b.values.begin() + (i + 1) * kDim);
      auto it = rows.find(key);
      if (b.accum) {
        if (it != rows.end() && Expired(it->second, now)) {
          if (b.exists[i]) continue;  // absent to the caller: skipped
          rows.erase(it);             // replaced below
          it = rows.end();
        }
        if (it != rows.end() && b.exists[i]) {
          for (int64_t d = 0; d < kDim; ++d) it->second.value[d] += v[d];
          Touch(&it->second, now, nullptr);
        } else if (it == rows.end() && !b.exists[i]) {
          if (!Admit(key)) { out.ordered.push_back(key); continue; }
          rows[key] = RowState{v, now, 1, 0};
        }
      } else {
        const int64_t* score = b.scores.empty() ? nullptr : &b.scores[i];
        if (it != rows.end()) {
          it->second.value = v;
          if (Expired(it->second, now)) {
            it->second = RowState{v, now, 1, score ? *score : 0};
          } else {
            Touch(&it->second, now, score);
          }
        } else if (!Admit(key)) {
          out.ordered.push_back(key);
        } else {
          rows[key] = RowState{v, now, 1, score ? *score : 0};
        }
      }
    }
    Evict(&out.ordered);
    if (b_.ttl > 0 && now >= next_sweep_) {
      next_sweep_ = now + SweepInterval();
      for (auto it = rows.begin(); it != rows.end();) {
        if (Expired(it->second, now)) {
          out.swept.push_back(it->first);
          it = rows.erase(it);
        } else {
          ++it;
        }
      }
    }
    return out;
  }

 private:
  uint64_t SweepInterval() const {
    return b_.ttl > 0 ? std::max<int64_t>(1, b_.ttl / 4) : 0;
  }

  static void Touch(RowState* r, uint64_t now, const int64_t* score) {
    r->version = now;
    ++r->freq;
    if (score != nullptr) r->score = *score;
  }

  bool Admit(const K& key) {
    if (b_.admit_after <= 1) return true;
    int& n = sightings_[key];
    n = std::min(n + 1, 255);
    return n >= b_.admit_after;
  }

  // Over capacity: evict down to capacity - capacity/4, lowest primary
  // score first, then older version, then smaller key.
  void Evict(std::vector<K>* dropped) {
    const size_t cap = static_cast<size_t>(b_.max_capacity);
    if (cap == 0 || rows.size() <= cap) return;
    std::vector<std::tuple<int64_t, uint64_t, K>> order;
    for (const auto& [key, r] : rows) {
      const int64_t primary =
          b_.policy == EvictPolicy::kLfu      ? static_cast<int64_t>(r.freq)
          : b_.policy == EvictPolicy::kCustom ? r.score
                                              : static_cast<int64_t>(r.version);
      order.emplace_back(primary, r.version, key);
    }
    std::sort(order.begin(), order.end());
    const size_t excess = rows.size() - (cap - cap / 4);
    for (size_t i = 0; i < excess; ++i) {
      dropped->push_back(std::get<2>(order[i]));
      rows.erase(std::get<2>(order[i]));
    }
  }

  TableBounds b_;
  uint64_t next_sweep_;
  std::map<K, int> sightings_;
};

// A random call over keys [0, key_space): inserts (with scores if asked)
// or accums whose `exists` is the caller's view, `present`, flipped
// `flip_percent` of the time to exercise the skip paths. Values are small
// integers, so sums are exact.
template <typename K, typename PresentFn>
Batch<K> RandomBatch(std::mt19937_64* rng, int64_t key_space, size_t max_n,
                     bool scores, PresentFn present, int flip_percent = 15) {
  Batch<K> b;
  b.accum = (*rng)() % 5 < 2;
  const size_t n = 1 + (*rng)() % max_n;
  for (size_t i = 0; i < n; ++i) {
    b.keys.push_back(Key<K>(static_cast<int64_t>((*rng)() % key_space)));
    for (int64_t d = 0; d < kDim; ++d) {
      b.values.push_back(static_cast<float>((*rng)() % 9) + d);
    }
    if (b.accum) {
      const bool flip = static_cast<int>((*rng)() % 100) < flip_percent;
      b.exists.push_back(present(b.keys.back()) != flip);
    } else if (scores) {
      // Mostly small scores (many ties), some at the int64 extremes.
      const uint64_t r = (*rng)() % 40;
      b.scores.push_back(r == 0   ? std::numeric_limits<int64_t>::min()
                         : r == 1 ? std::numeric_limits<int64_t>::max()
                                  : static_cast<int64_t>(r) - 10);
    }
  }
  return b;
}

template <typename K>
void ExpectDropped(const std::vector<K>& got,
                   const typename RefTable<K>::Dropped& want) {
  ASSERT_EQ(got.size(), want.ordered.size() + want.swept.size());
  EXPECT_EQ(std::vector<K>(got.begin(), got.begin() + want.ordered.size()),
            want.ordered);
  EXPECT_EQ(std::set<K>(got.begin() + want.ordered.size(), got.end()),
            std::set<K>(want.swept.begin(), want.swept.end()));
}

// The table holds exactly the reference's rows (its size counts expired
// rows until swept; exports and find show live rows only), and find agrees
// with the reference for keys [0, key_space).
template <typename K>
void ExpectMatches(const CpuHashTable<K>& t, const RefTable<K>& ref,
                   int64_t key_space) {
  ASSERT_EQ(RowDiff(Content(t), ref.Live()), "");
  // size() counts the rows a lookup sees (expired ones are not).
  ASSERT_EQ(t.size(), static_cast<int64_t>(ref.Live().size()));
  ASSERT_EQ(t.clock(), ref.clock);
  std::vector<K> keys;
  for (int64_t id = 0; id < key_space; ++id) keys.push_back(Key<K>(id));
  const auto args = Args(keys);
  std::vector<float> out(keys.size() * kDim), def(kDim, -1.f);
  std::unique_ptr<bool[]> ex(new bool[keys.size()]);
  ASSERT_TRUE(t.find(args.data(), args.size(), reinterpret_cast<char*>(out.data()),
                     reinterpret_cast<const char*>(def.data()), false, ex.get(), {})
                  .ok());
  for (size_t i = 0; i < keys.size(); ++i) {
    const bool present = ref.Present(keys[i]);
    ASSERT_EQ(ex[i], present) << i;
    const std::vector<float> want = present ? ref.rows.at(keys[i]).value : def;
    ASSERT_EQ(std::vector<float>(out.begin() + i * kDim, out.begin() + (i + 1) * kDim),
              want) << i;
  }
}

// Drives a one-shard table and the reference with the same random calls
// and compares dropped lists and full state after every call.
template <typename K>
void RunAgainstReference(const TableBounds& bounds, int64_t key_space,
                         int rounds, uint64_t seed) {
  auto t = MakeBounded<K>(bounds, 1);
  RefTable<K> ref(bounds);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const Batch<K> b = RandomBatch<K>(
        &rng, key_space, 24, bounds.policy == EvictPolicy::kCustom || rng() % 2,
        [&](const K& k) { return ref.Present(k); });
    const std::vector<K> got = Apply(t.get(), b);
    ASSERT_NO_FATAL_FAILURE(ExpectDropped(got, ref.Apply(b)));
    ASSERT_NO_FATAL_FAILURE(ExpectMatches(*t, ref, key_space));
  }
}

inline std::string PolicyName(EvictPolicy p) {
  switch (p) {
    case EvictPolicy::kLru: return "Lru";
    case EvictPolicy::kLfu: return "Lfu";
    case EvictPolicy::kTtl: return "Ttl";
    default: return "Custom";
  }
}

}  // namespace bounds_testing
}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_TESTS_BOUNDS_REFERENCE_H_

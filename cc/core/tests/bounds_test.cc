// Tests of bounded tables (TableBounds, row_meta.h): eviction order per
// policy, per-shard capacity, admission, TTL, option validation and a
// concurrent run. Behaviours are checked against RefTable
// (bounds_reference.h), which applies the documented rules literally.
// Built into one binary with the other core tests by
// tests/core/test_cc_core.py (plain, TSan, ASan+UBSan). TFRA_TEST_SCALE
// (env, default 1) multiplies the length of the concurrent test.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cc/core/cpu_hash_table.h"
#include "cc/core/tests/bounds_reference.h"

namespace tfra {
namespace core {
namespace bounds_testing {
namespace {

// ---------------------------------------------------------------------------
// 1. Eviction order per policy, one shard, against the reference.

struct EvictionCase {
  EvictPolicy policy;
  int64_t capacity;  // < 4: exact; >= 4: evicts down to capacity*3/4
  int64_t ttl;
  bool string_keys;
};

class EvictionOrder : public ::testing::TestWithParam<EvictionCase> {};

TEST_P(EvictionOrder, MatchesReference) {
  const EvictionCase& c = GetParam();
  TableBounds b;
  b.policy = c.policy;
  b.max_capacity = c.capacity;
  b.ttl = c.ttl;
  if (c.string_keys) {
    RunAgainstReference<std::string>(b, 3 * c.capacity, 300, 11);
  } else {
    RunAgainstReference<int64_t>(b, 3 * c.capacity, 300, 11);
  }
}

std::vector<EvictionCase> EvictionCases() {
  std::vector<EvictionCase> cases;
  for (EvictPolicy p : {EvictPolicy::kLru, EvictPolicy::kLfu, EvictPolicy::kTtl,
                        EvictPolicy::kCustom}) {
    for (int64_t cap : {5, 40}) {
      for (bool s : {false, true}) {
        cases.push_back({p, cap, p == EvictPolicy::kTtl ? 12 : 0, s});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Bounds, EvictionOrder, ::testing::ValuesIn(EvictionCases()),
    [](const ::testing::TestParamInfo<EvictionCase>& info) {
      const EvictionCase& c = info.param;
      return PolicyName(c.policy) + "Cap" +
             std::to_string(c.capacity) + (c.string_keys ? "String" : "Int64");
    });

// ---------------------------------------------------------------------------
// 2. Several shards: max_capacity is split exactly over the shards (shard i
// gets max / shards, plus one for i < max % shards; never more shards than
// rows), no shard exceeds its share, and every key written is in the table
// afterwards or in that call's dropped list.

template <typename K>
void RunShardedBounds(EvictPolicy policy, int64_t max_capacity) {
  TableBounds b;
  b.policy = policy;
  b.max_capacity = max_capacity;
  auto t = MakeBounded<K>(b, 8);
  const size_t cap = static_cast<size_t>(max_capacity);
  size_t shards = 8;
  while (shards > cap) shards /= 2;
  ASSERT_EQ(t->num_shards(), shards);
  std::mt19937_64 rng(5);
  std::set<K> before;
  for (int round = 0; round < 120; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Every 40th call is large enough for the parallel path.
    const size_t max_n = round % 40 == 39 ? 5000 : 64;
    // The caller's view is exact (no flips), so every key is written.
    const Batch<K> batch = RandomBatch<K>(
        &rng, 1000, max_n, true, [&](const K& k) { return before.count(k) > 0; },
        /*flip_percent=*/0);
    const std::vector<K> dropped = Apply(t.get(), batch, ThreadsPF(2));
    const auto rows = Content(*t);
    const std::vector<size_t> counts = ShardCounts(rows, shards);
    for (size_t i = 0; i < shards; ++i) {
      const size_t share = cap / shards + (i < cap % shards);
      ASSERT_LE(counts[i], share) << "shard " << i;
    }
    ASSERT_LE(t->size(), max_capacity);
    std::set<K> after;
    for (const auto& kv : rows) after.insert(kv.first);
    const std::set<K> gone(dropped.begin(), dropped.end());
    ASSERT_EQ(gone.size(), dropped.size()) << "a key dropped twice";
    std::set<K> expected = before;
    expected.insert(batch.keys.begin(), batch.keys.end());
    for (const K& k : gone) ASSERT_EQ(expected.erase(k), 1u) << "dropped unknown key";
    ASSERT_EQ(after, expected);
    before = after;
  }
}

struct ShardedCase {
  EvictPolicy policy;
  int64_t capacity;  // 300 over 8 shards; 5 over 4 (fewer shards than 8)
  bool string_keys;
};

class ShardedBounds : public ::testing::TestWithParam<ShardedCase> {};

TEST_P(ShardedBounds, NoShardExceedsItsShareAndNothingIsLostSilently) {
  const ShardedCase& c = GetParam();
  if (c.string_keys) {
    RunShardedBounds<std::string>(c.policy, c.capacity);
  } else {
    RunShardedBounds<int64_t>(c.policy, c.capacity);
  }
}

std::vector<ShardedCase> ShardedCases() {
  std::vector<ShardedCase> cases;
  for (EvictPolicy p : {EvictPolicy::kLru, EvictPolicy::kLfu, EvictPolicy::kCustom}) {
    for (int64_t cap : {300, 5}) {
      for (bool s : {false, true}) cases.push_back({p, cap, s});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Bounds, ShardedBounds, ::testing::ValuesIn(ShardedCases()),
    [](const ::testing::TestParamInfo<ShardedCase>& info) {
      const ShardedCase& c = info.param;
      return PolicyName(c.policy) + "Cap" + std::to_string(c.capacity) +
             (c.string_keys ? "String" : "Int64");
    });

// ---------------------------------------------------------------------------
// 3. Admission.

// A new key gets a row on its third write, not before; existing keys are
// never refused.
TEST(Admission, NewKeyGetsARowOnItsNthWrite) {
  TableBounds b;
  b.admit_after = 3;
  auto t = MakeBounded<int64_t>(b, 4);
  const int64_t key = 42;
  float def[kDim] = {-1, -1}, out[kDim];
  bool exists;
  for (int write = 1; write <= 5; ++write) {
    const float v[kDim] = {float(write), float(write)};
    std::vector<int64_t> dropped;
    ASSERT_TRUE(t->insert(&key, 1, reinterpret_cast<const char*>(v), nullptr,
                          &dropped, {}).ok());
    ASSERT_TRUE(t->find(&key, 1, reinterpret_cast<char*>(out),
                        reinterpret_cast<const char*>(def), false, &exists, {}).ok());
    EXPECT_EQ(dropped, write < 3 ? std::vector<int64_t>{key} : std::vector<int64_t>{})
        << write;
    EXPECT_EQ(exists, write >= 3) << write;
    EXPECT_EQ(out[0], write >= 3 ? float(write) : -1.f) << write;
  }
}

class AdmissionRandom : public ::testing::TestWithParam<bool> {};

// Random inserts/accums against the reference (exact sighting counts; a
// 4096-wide sketch over 200 keys has no colliding key in this stream).
TEST_P(AdmissionRandom, MatchesReference) {
  TableBounds b;
  b.admit_after = 3;
  if (GetParam()) {
    RunAgainstReference<std::string>(b, 200, 300, 3);
  } else {
    RunAgainstReference<int64_t>(b, 200, 300, 3);
  }
}

INSTANTIATE_TEST_SUITE_P(Bounds, AdmissionRandom, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "String" : "Int64");
                         });

// Estimates from a narrow sketch (many collisions) are never below the true
// count, before halving and below saturation.
TEST(Admission, SketchNeverUnderCounts) {
  CountMinSketch sketch;
  sketch.allocate(16);
  std::map<int64_t, uint32_t> truth;
  std::mt19937_64 rng(9);
  for (int i = 0; i < 150; ++i) {  // halving starts at 10 * 16 = 160
    const int64_t key = static_cast<int64_t>(rng() % 60);
    const uint32_t est = sketch.add(HashKey(key));
    ++truth[key];
    ASSERT_EQ(est, sketch.estimate(HashKey(key)));
    for (const auto& [k, n] : truth) {
      ASSERT_GE(sketch.estimate(HashKey(k)), n) << "key " << k;
    }
  }
  CountMinSketch wide;
  wide.allocate(1024);
  for (int i = 0; i < 300; ++i) wide.add(HashKey(int64_t{7}));
  EXPECT_EQ(wide.estimate(HashKey(int64_t{7})), CountMinSketch::kMax);
}

// The same through a table: the exported sketch (summed over shards)
// estimates every key at least at its number of refused-or-admitted writes.
TEST(Admission, TableSketchNeverUnderCounts) {
  TableBounds b;
  b.admit_after = 200;  // nothing is admitted: every write is a sighting
  b.sketch_width = 16;
  auto t = MakeBounded<int64_t>(b, 4);
  std::map<int64_t, uint32_t> truth;
  std::mt19937_64 rng(4);
  for (int i = 0; i < 150; ++i) {  // < 10 * 16 sightings in any shard
    const int64_t key = static_cast<int64_t>(rng() % 60);
    const float v[kDim] = {1, 1};
    ASSERT_TRUE(t->insert(&key, 1, reinterpret_cast<const char*>(v), {}).ok());
    ++truth[key];
  }
  EXPECT_EQ(t->size(), 0);
  std::vector<int32_t> sums;
  size_t width;
  ASSERT_TRUE(t->export_sketch(&sums, &width).ok());
  ASSERT_EQ(width, 16u);
  CountMinSketch sketch;
  sketch.allocate(width);
  sketch.assign(sums.data());
  for (const auto& [k, n] : truth) EXPECT_GE(sketch.estimate(HashKey(k)), n) << k;
}

// ---------------------------------------------------------------------------
// 4. TTL: a walk through one table (ttl 100, so sweeps run every 25 steps,
// at clocks 25, 50, ..., 125).

TEST(Ttl, ExpiredRowsReadAbsentAreReplacedAndSweptAndReported) {
  TableBounds b;
  b.ttl = 100;
  auto t = MakeBounded<int64_t>(b, 4);
  const std::vector<int64_t> abc = {1, 2, 3};
  const int64_t z = 26;
  const float v1[3 * kDim] = {1, 1, 1, 1, 1, 1};
  std::vector<int64_t> dropped;
  ASSERT_TRUE(t->insert(abc.data(), 3, reinterpret_cast<const char*>(v1), nullptr,
                        &dropped, {}).ok());  // clock 1
  auto write_z = [&]() {
    ASSERT_TRUE(t->insert(&z, 1, reinterpret_cast<const char*>(v1), nullptr,
                          &dropped, {}).ok());
  };
  auto present = [&](int64_t key, float* value) {
    float def[kDim] = {-1, -1};
    bool ex;
    EXPECT_TRUE(t->find(&key, 1, reinterpret_cast<char*>(value),
                        reinterpret_cast<const char*>(def), false, &ex, {}).ok());
    return ex;
  };
  float out[kDim];
  while (t->clock() < 101) write_z();
  EXPECT_TRUE(present(1, out));   // 101 - 1 = 100 steps: still alive
  write_z();                      // clock 102
  EXPECT_FALSE(present(1, out));  // 101 steps without a write
  EXPECT_EQ(out[0], -1.f);
  EXPECT_EQ(t->size(), 1);        // 1, 2, 3 expired: not counted, though
                                  // not swept yet (next sweep at 125)
  EXPECT_TRUE(dropped.empty());

  // accum with exists=false re-inserts key 1 (replaced, not added to).
  const int64_t k1 = 1, k2 = 2, k3 = 3;
  const float v5[kDim] = {5, 5};
  const bool no = false, yes = true;
  ASSERT_TRUE(t->accum(&k1, 1, reinterpret_cast<const char*>(v5), &no, &dropped, {}).ok());
  EXPECT_TRUE(present(1, out));
  EXPECT_EQ(out[0], 5.f);
  // accum with exists=true on expired key 2 is skipped: still absent.
  ASSERT_TRUE(t->accum(&k2, 1, reinterpret_cast<const char*>(v5), &yes, &dropped, {}).ok());
  EXPECT_FALSE(present(2, out));
  // insert of expired key 3 starts its row over.
  ASSERT_TRUE(t->insert(&k3, 1, reinterpret_cast<const char*>(v5), nullptr, &dropped, {}).ok());
  EXPECT_TRUE(dropped.empty());
  const auto rows = Content(*t);
  EXPECT_EQ(rows.at(1), (RowState{{5, 5}, 103, 1, 0}));
  EXPECT_EQ(rows.at(3), (RowState{{5, 5}, 105, 1, 0}));

  while (t->clock() < 124) write_z();
  EXPECT_TRUE(dropped.empty());
  write_z();  // clock 125: the sweep removes key 2, and reports it
  EXPECT_EQ(dropped, std::vector<int64_t>{2});
  EXPECT_EQ(t->size(), 3);
}

class TtlRandom : public ::testing::TestWithParam<bool> {};

// Random inserts/accums with expiry and sweeps (ttl 12, a sweep every 3
// steps, so expired rows linger) against the reference; find must agree
// with expiry after every call.
TEST_P(TtlRandom, MatchesReference) {
  TableBounds b;
  b.ttl = 12;
  if (GetParam()) {
    RunAgainstReference<std::string>(b, 60, 300, 17);
  } else {
    RunAgainstReference<int64_t>(b, 60, 300, 17);
  }
}

INSTANTIATE_TEST_SUITE_P(Bounds, TtlRandom, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "String" : "Int64");
                         });

// ---------------------------------------------------------------------------
// 6. Validation.

struct BadBounds {
  const char* name;
  TableBounds bounds;
};

class RejectsBounds : public ::testing::TestWithParam<BadBounds> {};

TEST_P(RejectsBounds, WithInvalidArgument) {
  CpuHashTableOptions opt;
  opt.bounds = GetParam().bounds;
  std::unique_ptr<CpuHashTable<int64_t>> t;
  EXPECT_EQ(CpuHashTable<int64_t>::Create(opt, &t).code(), Code::kInvalidArgument);
}

std::vector<BadBounds> BadBoundsCases() {
  auto with = [](auto edit) {
    TableBounds b;
    edit(&b);
    return b;
  };
  return {
      {"NegativeCapacity", with([](TableBounds* b) { b->max_capacity = -1; })},
      {"NegativeTtl", with([](TableBounds* b) { b->ttl = -5; })},
      {"AdmitAfter256", with([](TableBounds* b) { b->admit_after = 256; })},
      {"NegativeAdmitAfter", with([](TableBounds* b) { b->admit_after = -1; })},
      {"UnknownPolicy", with([](TableBounds* b) {
         b->track = true;
         b->policy = static_cast<EvictPolicy>(7);
       })},
      {"SketchWidthNotPowerOfTwo", with([](TableBounds* b) {
         b->admit_after = 2;
         b->sketch_width = 100;
       })},
      {"SketchWidthBelow16", with([](TableBounds* b) {
         b->admit_after = 2;
         b->sketch_width = 8;
       })},
      {"SketchWidthZero", with([](TableBounds* b) {
         b->admit_after = 2;
         b->sketch_width = 0;
       })},
  };
}

INSTANTIATE_TEST_SUITE_P(Bounds, RejectsBounds, ::testing::ValuesIn(BadBoundsCases()),
                         [](const ::testing::TestParamInfo<BadBounds>& info) {
                           return std::string(info.param.name);
                         });

TEST(Validation, AcceptsLimitValues) {
  CpuHashTableOptions opt;
  opt.bounds.admit_after = 255;
  opt.bounds.sketch_width = 16;
  opt.bounds.max_capacity = 1;
  opt.bounds.ttl = 1;
  std::unique_ptr<CpuHashTable<int64_t>> t;
  EXPECT_TRUE(CpuHashTable<int64_t>::Create(opt, &t).ok());
}

// ---------------------------------------------------------------------------
// 7. Concurrency: writers insert, an optimizer-like thread finds then
// accums, a reader finds and counts, all at once on a table with capacity,
// admission and TTL. Rows are constant (all elements equal) so a torn row
// shows; the table never exceeds its bound; every key written is at the end
// in the table or in some call's dropped list.

TEST(Concurrent, BoundedTableStaysWithinBoundsAndReportsEveryLoss) {
  const int64_t dim = 8;
  TableBounds b;
  b.policy = EvictPolicy::kLfu;
  b.max_capacity = 500;
  b.ttl = 10;
  b.admit_after = 2;
  b.sketch_width = 256;
  const int shards = 4;
  const int64_t bound = 500;  // 125 rows per shard
  auto t = MakeBounded<int64_t>(b, shards, dim);
  const int iters = 150 * Scale();
  const uint64_t kKeys = 600;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::set<int64_t>> written(3), dropped(3);

  auto writer = [&](int id) {
    std::mt19937_64 rng(id);
    for (int it = 0; it < iters; ++it) {
      std::vector<int64_t> keys(32);
      for (auto& k : keys) k = static_cast<int64_t>(rng() % kKeys);
      std::vector<float> vals(keys.size() * dim);
      for (size_t i = 0; i < keys.size(); ++i) {
        std::fill(vals.begin() + i * dim, vals.begin() + (i + 1) * dim, float(it % 7));
      }
      std::vector<int64_t> out;
      if (!t->insert(keys.data(), keys.size(), reinterpret_cast<char*>(vals.data()),
                     nullptr, &out, {}).ok()) failures++;
      written[id].insert(keys.begin(), keys.end());
      dropped[id].insert(out.begin(), out.end());
    }
  };
  auto optimizer = [&](int id) {
    std::mt19937_64 rng(id);
    std::vector<float> found(64 * dim), def(dim, 0.f);
    std::unique_ptr<bool[]> ex(new bool[64]);
    for (int it = 0; it < iters; ++it) {
      std::vector<int64_t> keys(64);
      for (auto& k : keys) k = static_cast<int64_t>(rng() % kKeys);
      if (!t->find(keys.data(), keys.size(), reinterpret_cast<char*>(found.data()),
                   reinterpret_cast<char*>(def.data()), false, ex.get(), {}).ok()) failures++;
      std::vector<float> deltas(keys.size() * dim, 1.f);
      std::vector<int64_t> out;
      if (!t->accum(keys.data(), keys.size(), reinterpret_cast<char*>(deltas.data()),
                    ex.get(), &out, {}).ok()) failures++;
      for (size_t i = 0; i < keys.size(); ++i) {
        if (!ex[i]) written[id].insert(keys[i]);
      }
      dropped[id].insert(out.begin(), out.end());
    }
  };
  auto reader = [&]() {
    std::vector<int64_t> keys(128);
    std::vector<float> out(keys.size() * dim), def(dim, -1.f);
    std::mt19937_64 rng(99);
    while (!stop.load()) {
      for (auto& k : keys) k = static_cast<int64_t>(rng() % kKeys);
      t->find(keys.data(), keys.size(), reinterpret_cast<char*>(out.data()),
              reinterpret_cast<char*>(def.data()), false, nullptr, {});
      for (size_t i = 0; i < keys.size(); ++i) {
        for (int64_t d = 1; d < dim; ++d) {
          if (out[i * dim + d] != out[i * dim]) failures++;
        }
      }
      if (t->size() > bound) failures++;
    }
  };
  std::vector<std::thread> ws;
  ws.emplace_back(writer, 0);
  ws.emplace_back(writer, 1);
  ws.emplace_back(optimizer, 2);
  std::thread r(reader);
  for (auto& w : ws) w.join();
  stop = true;
  r.join();
  EXPECT_EQ(failures.load(), 0);

  // Sweep the rows that expired at the end, so every row is exported.
  std::vector<int64_t> swept;
  ASSERT_NO_FATAL_FAILURE(SweepUntilClean(t.get(), &swept));
  const auto rows = Content(*t);
  for (size_t c : ShardCounts(rows, shards)) {
    EXPECT_LE(c, static_cast<size_t>(bound / shards));
  }
  std::set<int64_t> accounted(swept.begin(), swept.end());
  for (const auto& kv : rows) accounted.insert(kv.first);
  for (const auto& d : dropped) accounted.insert(d.begin(), d.end());
  for (const auto& w : written) {
    for (int64_t k : w) EXPECT_EQ(accounted.count(k), 1u) << "lost key " << k;
  }
}

}  // namespace
}  // namespace bounds_testing
}  // namespace core
}  // namespace tfra

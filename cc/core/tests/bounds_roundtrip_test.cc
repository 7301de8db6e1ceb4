// Round trips of bounded tables: rows with their metadata
// (export_snapshot / import_replace / set_clock) and the admission sketch
// (export_sketch / import_sketch), and a restored table continuing as the
// original. Built with the other core tests by tests/core/test_cc_core.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "cc/core/cpu_hash_table.h"
#include "cc/core/tests/bounds_reference.h"

namespace tfra {
namespace core {
namespace bounds_testing {
namespace {

// A table with every bound, filled by random calls.
template <typename K>
std::unique_ptr<CpuHashTable<K>> FilledTable(const TableBounds& b, int shards,
                                             std::mt19937_64* rng) {
  auto t = MakeBounded<K>(b, shards);
  for (int round = 0; round < 150; ++round) {
    Apply(t.get(), RandomBatch<K>(rng, 200, 24, true, [&](const K&) {
      return rng->operator()() % 2 == 0;
    }));
  }
  return t;
}

TableBounds AllBounds() {
  TableBounds b;
  b.policy = EvictPolicy::kCustom;
  b.max_capacity = 64;
  b.ttl = 40;
  b.admit_after = 2;
  b.sketch_width = 1024;
  return b;
}

// Copies every row with its metadata, and the clock, from `from` into `to`
// (export_snapshot -> import_replace -> set_clock); returns the row count.
template <typename K>
size_t CopyRows(const CpuHashTable<K>& from, CpuHashTable<K>* to) {
  std::vector<K> keys;
  std::vector<float> values;
  std::vector<RowMeta> metas;
  EXPECT_TRUE(from.export_snapshot(
      [](size_t) { return Status::OK(); },
      [&](const K* k, const char* v, const RowMeta* m, size_t c) {
        const float* f = reinterpret_cast<const float*>(v);
        keys.insert(keys.end(), k, k + c);
        values.insert(values.end(), f, f + c * kDim);
        metas.insert(metas.end(), m, m + c);
        return Status::OK();
      }).ok());
  const auto args = Args(keys);
  EXPECT_TRUE(to->import_replace(args.data(), args.size(),
                                 reinterpret_cast<const char*>(values.data()),
                                 metas.data()).ok());
  to->set_clock(from.clock());
  return keys.size();
}

template <typename K>
void RunMetaRoundTrip() {
  std::mt19937_64 rng(21);
  auto a = FilledTable<K>(AllBounds(), 4, &rng);
  auto b = MakeBounded<K>(AllBounds(), 4);
  ASSERT_GT(CopyRows(*a, b.get()), 0u);
  EXPECT_EQ(b->clock(), a->clock());
  EXPECT_EQ(RowDiff(Content(*b), Content(*a)), "");
}

TEST(RoundTrip, ExportImportWithMetaKeepsVersionsFreqsAndScoresInt64) {
  RunMetaRoundTrip<int64_t>();
}
TEST(RoundTrip, ExportImportWithMetaKeepsVersionsFreqsAndScoresString) {
  RunMetaRoundTrip<std::string>();
}

// Sketch round trip, seen through admission (admit_after 5): key id is
// refused (id % 5) times in table A; table B imports A's sketch. With one
// shard the exported sums are that shard's counters: B exports them back
// unchanged and admits each key after exactly 5 - (id % 5) more writes.
// With several shards every shard of B gets the sums, so estimates can only
// rise and a key is admitted no later than that.
void RunSketchRoundTrip(int shards) {
  TableBounds bounds;
  bounds.admit_after = 5;
  bounds.sketch_width = 1024;
  auto a = MakeBounded<int64_t>(bounds, shards);
  const float v[kDim] = {1, 1};
  for (int64_t id = 0; id < 60; ++id) {
    const int64_t key = Key<int64_t>(id);
    for (int64_t w = 0; w < id % 5; ++w) {
      ASSERT_TRUE(a->insert(&key, 1, reinterpret_cast<const char*>(v), {}).ok());
    }
  }
  ASSERT_EQ(a->size(), 0);
  std::vector<int32_t> sums, sums_b;
  size_t width, width_b;
  ASSERT_TRUE(a->export_sketch(&sums, &width).ok());
  auto b = MakeBounded<int64_t>(bounds, shards);
  ASSERT_TRUE(b->import_sketch(sums.data(), width).ok());
  if (shards == 1) {
    ASSERT_TRUE(b->export_sketch(&sums_b, &width_b).ok());
    EXPECT_EQ(width_b, width);
    EXPECT_EQ(sums_b, sums);
  }
  for (int64_t id = 0; id < 60; ++id) {
    const int64_t key = Key<int64_t>(id);
    int64_t writes = 0;
    std::vector<int64_t> dropped{key};
    while (!dropped.empty() && writes < 5) {
      dropped.clear();
      ASSERT_TRUE(b->insert(&key, 1, reinterpret_cast<const char*>(v), nullptr,
                            &dropped, {}).ok());
      ++writes;
    }
    ASSERT_TRUE(dropped.empty()) << id;
    if (shards == 1) {
      EXPECT_EQ(writes, 5 - id % 5) << id;
    } else {
      EXPECT_LE(writes, 5 - id % 5) << id;
    }
  }
}

TEST(RoundTrip, SketchExportImportKeepsEstimatesOneShard) { RunSketchRoundTrip(1); }
TEST(RoundTrip, SketchExportImportNeverLowersEstimatesFourShards) {
  RunSketchRoundTrip(4);
}

TEST(RoundTrip, SketchImportRejectsOtherWidthAndTablesWithoutAdmission) {
  auto t = MakeBounded<int64_t>(AllBounds(), 2);
  std::vector<int32_t> sums(CountMinSketch::kDepth * 16, 1);
  EXPECT_EQ(t->import_sketch(sums.data(), 16).code(), Code::kInvalidArgument);
  TableBounds no_admission;
  no_admission.max_capacity = 10;
  auto plain = MakeBounded<int64_t>(no_admission, 2);
  EXPECT_EQ(plain->import_sketch(sums.data(), 16).code(), Code::kFailedPrecondition);
  size_t width = 1;
  ASSERT_TRUE(plain->export_sketch(&sums, &width).ok());
  EXPECT_TRUE(sums.empty());
  EXPECT_EQ(width, 0u);
}

// A one-shard table restored from rows, metadata, clock and sketch then
// behaves as the original: same dropped keys and same rows, call by call.
TEST(RoundTrip, RestoredTableContinuesAsTheOriginal) {
  std::mt19937_64 rng(29);
  auto a = FilledTable<int64_t>(AllBounds(), 1, &rng);
  std::vector<int64_t> swept;
  // Exports leave out expired rows; with none left the copy is complete.
  ASSERT_NO_FATAL_FAILURE(SweepUntilClean(a.get(), &swept));
  auto b = MakeBounded<int64_t>(AllBounds(), 1);
  ASSERT_EQ(static_cast<int64_t>(CopyRows(*a, b.get())), a->size());
  a->set_clock(a->clock());  // same sweep schedule on both
  std::vector<int32_t> sums;
  size_t width;
  ASSERT_TRUE(a->export_sketch(&sums, &width).ok());
  ASSERT_TRUE(b->import_sketch(sums.data(), width).ok());
  for (int round = 0; round < 100; ++round) {
    const Batch<int64_t> batch = RandomBatch<int64_t>(
        &rng, 200, 24, true, [&](int64_t) { return rng() % 2 == 0; });
    std::vector<int64_t> da = Apply(a.get(), batch), db = Apply(b.get(), batch);
    std::sort(da.begin(), da.end());
    std::sort(db.begin(), db.end());
    ASSERT_EQ(da, db) << round;
    ASSERT_EQ(RowDiff(Content(*b), Content(*a)), "") << round;
  }
}

// A checkpoint of a bigger table restored into a bounded one: the restore
// evicts down to capacity by the policy, ranking by the saved metadata
// (LRU: the rows with the highest versions stay).
TEST(RoundTrip, ImportOfMoreRowsThanCapacityEvictsByPolicy) {
  TableBounds b;
  b.policy = EvictPolicy::kLru;
  b.max_capacity = 100;
  auto t = MakeBounded<int64_t>(b, 1);
  const size_t n = 900;
  std::vector<int64_t> keys(n);
  std::vector<float> values(n * kDim);
  std::vector<RowMeta> metas(n);
  for (size_t i = 0; i < n; ++i) {
    keys[i] = static_cast<int64_t>(i);
    for (int d = 0; d < kDim; ++d) values[i * kDim + d] = static_cast<float>(i);
    metas[i] = RowMeta{static_cast<uint64_t>(i + 1), 0, 1, 0};
  }
  const auto args = Args(keys);
  ASSERT_TRUE(t->import_replace(args.data(), n,
                                reinterpret_cast<const char*>(values.data()),
                                metas.data()).ok());
  const auto content = Content(*t);
  ASSERT_GT(content.size(), 0u);
  EXPECT_LE(content.size(), 100u);
  EXPECT_EQ(static_cast<size_t>(t->size()), content.size());
  for (const auto& row : content) {
    EXPECT_GE(row.first, static_cast<int64_t>(n - 100)) << "kept an old row";
  }
}

}  // namespace
}  // namespace bounds_testing
}  // namespace core
}  // namespace tfra

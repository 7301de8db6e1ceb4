// Unit tests of the TensorFlow-free table core. Built three ways by
// tests/core/test_cc_core.py: plain, -fsanitize=thread, -fsanitize=address.
// TFRA_TEST_SCALE (env, default 1) multiplies the sizes of the heavier tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cc/core/cpu_hash_table.h"
#include "cc/core/tests/test_util.h"
#include "cc/core/crc32c.h"
#include "cc/core/kv_file.h"
#include "cc/core/unique.h"

namespace tfra {
namespace core {
namespace {

using testing_util::Scale;
using testing_util::ThreadsPF;

template <typename K>
std::unique_ptr<CpuHashTable<K>> MakeTable(int64_t dim, int shards = 8,
                                           int64_t init = 0) {
  CpuHashTableOptions opt;
  opt.dim = dim;
  opt.num_shards = shards;
  opt.init_size = init;
  std::unique_ptr<CpuHashTable<K>> t;
  EXPECT_TRUE(CpuHashTable<K>::Create(opt, &t).ok());
  return t;
}

std::vector<float> Row(int64_t key, int64_t dim, float salt = 0) {
  std::vector<float> r(dim);
  for (int64_t i = 0; i < dim; ++i) r[i] = static_cast<float>(key % 100003) + i * 0.5f + salt;
  return r;
}

TEST(Crc32c, KnownVector) {
  EXPECT_EQ(Crc32c::Extend(0, "123456789", 9), 0xE3069283u);
  std::string s(1000, 'x');
  EXPECT_EQ(Crc32c::Extend(Crc32c::Extend(0, s.data(), 300), s.data() + 300, 700),
            Crc32c::Extend(0, s.data(), 1000));
}

TEST(CpuHashTable, RejectsBadOptions) {
  CpuHashTableOptions opt;
  opt.dim = 0;
  std::unique_ptr<CpuHashTable<int64_t>> t;
  EXPECT_EQ(CpuHashTable<int64_t>::Create(opt, &t).code(), Code::kInvalidArgument);
}

TEST(CpuHashTable, RandomOpsMatchReferenceInt64) {
  const int64_t dim = 3;
  auto t = MakeTable<int64_t>(dim, 4);
  std::unordered_map<int64_t, std::vector<float>> ref;
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200 * Scale(); ++round) {
    const int op = rng() % 3;
    const size_t n = rng() % 300;
    std::vector<int64_t> keys(n);
    for (auto& k : keys) k = static_cast<int64_t>(rng() % 2000) - 1000;
    if (op == 0) {
      std::vector<float> vals;
      for (auto k : keys) {
        auto r = Row(k, dim, round);
        vals.insert(vals.end(), r.begin(), r.end());
        ref[k] = r;
      }
      ASSERT_TRUE(t->insert(keys.data(), n, reinterpret_cast<char*>(vals.data()), ThreadsPF(2)).ok());
    } else if (op == 1) {
      ASSERT_TRUE(t->remove(keys.data(), n, {}).ok());
      for (auto k : keys) ref.erase(k);
    }
    ASSERT_EQ(t->size(), static_cast<int64_t>(ref.size()));
    std::vector<float> out(n * dim), def(dim, -7.f);
    std::unique_ptr<bool[]> exists(new bool[n + 1]);
    ASSERT_TRUE(t->find(keys.data(), n, reinterpret_cast<char*>(out.data()),
                        reinterpret_cast<char*>(def.data()), false, exists.get(), {}).ok());
    for (size_t i = 0; i < n; ++i) {
      auto it = ref.find(keys[i]);
      ASSERT_EQ(exists[i], it != ref.end());
      for (int64_t d = 0; d < dim; ++d) {
        ASSERT_EQ(out[i * dim + d], it != ref.end() ? it->second[d] : -7.f);
      }
    }
  }
}

TEST(CpuHashTable, StringKeysWithNulBytesAndLongKeys) {
  auto t = MakeTable<std::string>(2, 2);
  std::vector<std::string> storage = {std::string("a\0b", 3), std::string("a\0c", 3),
                                      "", std::string(100, 'z'), "a"};
  std::vector<std::string_view> keys(storage.begin(), storage.end());
  std::vector<float> vals = {1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
  ASSERT_TRUE(t->insert(keys.data(), keys.size(), reinterpret_cast<char*>(vals.data()), {}).ok());
  EXPECT_EQ(t->size(), 5);
  std::vector<float> out(10), def(2, 0);
  ASSERT_TRUE(t->find(keys.data(), keys.size(), reinterpret_cast<char*>(out.data()),
                      reinterpret_cast<char*>(def.data()), false, nullptr, {}).ok());
  EXPECT_EQ(out, vals);
  std::string_view gone = keys[0];
  ASSERT_TRUE(t->remove(&gone, 1, {}).ok());
  ASSERT_TRUE(t->find(keys.data(), keys.size(), reinterpret_cast<char*>(out.data()),
                      reinterpret_cast<char*>(def.data()), false, nullptr, {}).ok());
  EXPECT_EQ(out, (std::vector<float>{0, 0, 2, 2, 3, 3, 4, 4, 5, 5}));
}

TEST(CpuHashTable, DuplicateInsertLastWinsAndAccumAddsAll) {
  auto t = MakeTable<int64_t>(1, 1);
  std::vector<int64_t> keys = {5, 5, 5};
  std::vector<float> vals = {1, 2, 3};
  ASSERT_TRUE(t->insert(keys.data(), 3, reinterpret_cast<char*>(vals.data()), {}).ok());
  float out = 0, def = 0;
  ASSERT_TRUE(t->find(keys.data(), 1, reinterpret_cast<char*>(&out), reinterpret_cast<char*>(&def), false, nullptr, {}).ok());
  EXPECT_EQ(out, 3.f);
  bool ex[3] = {true, true, true};
  ASSERT_TRUE(t->accum(keys.data(), 3, reinterpret_cast<char*>(vals.data()), ex, {}).ok());
  ASSERT_TRUE(t->find(keys.data(), 1, reinterpret_cast<char*>(&out), reinterpret_cast<char*>(&def), false, nullptr, {}).ok());
  EXPECT_EQ(out, 9.f);
  // exists=false on a present key is skipped; on an absent key inserts.
  std::vector<int64_t> k2 = {5, 6};
  bool ex2[2] = {false, false};
  std::vector<float> v2 = {100, 7};
  ASSERT_TRUE(t->accum(k2.data(), 2, reinterpret_cast<char*>(v2.data()), ex2, {}).ok());
  float out2[2];
  ASSERT_TRUE(t->find(k2.data(), 2, reinterpret_cast<char*>(out2), reinterpret_cast<char*>(&def), false, nullptr, {}).ok());
  EXPECT_EQ(out2[0], 9.f);
  EXPECT_EQ(out2[1], 7.f);
}

TEST(CpuHashTable, GrowthKeepsEveryEntryAndExportIsComplete) {
  const int64_t n = 200000 * Scale();
  auto t = MakeTable<int64_t>(4, 16);
  std::vector<int64_t> keys(n);
  std::vector<float> vals(n * 4);
  for (int64_t i = 0; i < n; ++i) {
    keys[i] = i * 7919;
    auto r = Row(keys[i], 4);
    std::copy(r.begin(), r.end(), vals.begin() + i * 4);
  }
  for (int64_t b = 0; b < n; b += 10000) {
    ASSERT_TRUE(t->insert(keys.data() + b, std::min<int64_t>(10000, n - b),
                          reinterpret_cast<char*>(vals.data() + b * 4), ThreadsPF(2)).ok());
  }
  ASSERT_EQ(t->size(), n);
  std::map<int64_t, std::vector<float>> exported;
  size_t total = 0;
  ASSERT_TRUE(t->export_snapshot(
      [&](size_t tot) { total = tot; return Status::OK(); },
      [&](const int64_t* k, const char* v, const RowMeta*, size_t c) {
        const float* f = reinterpret_cast<const float*>(v);
        for (size_t i = 0; i < c; ++i) exported[k[i]] = std::vector<float>(f + i * 4, f + i * 4 + 4);
        return Status::OK();
      }).ok());
  ASSERT_EQ(total, static_cast<size_t>(n));
  ASSERT_EQ(exported.size(), static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i += 997) ASSERT_EQ(exported[keys[i]], Row(keys[i], 4));
  // Remove every other key; the rest must be intact.
  std::vector<int64_t> odd;
  for (int64_t i = 1; i < n; i += 2) odd.push_back(keys[i]);
  ASSERT_TRUE(t->remove(odd.data(), odd.size(), ThreadsPF(2)).ok());
  ASSERT_EQ(t->size(), n - static_cast<int64_t>(odd.size()));
  std::vector<float> out(n * 4), def(4, -1);
  std::unique_ptr<bool[]> ex(new bool[n]);
  ASSERT_TRUE(t->find(keys.data(), n, reinterpret_cast<char*>(out.data()),
                      reinterpret_cast<char*>(def.data()), false, ex.get(), ThreadsPF(2)).ok());
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(ex[i], i % 2 == 0) << i;
    if (i % 2 == 0) ASSERT_EQ(out[i * 4 + 3], Row(keys[i], 4)[3]);
  }
}

TEST(CpuHashTable, MassRemovalReturnsIndexMemoryAndKeepsSurvivors) {
  auto t = MakeTable<int64_t>(8, 4);
  const int64_t n = 100000;
  std::vector<int64_t> keys(n);
  for (int64_t i = 0; i < n; ++i) keys[i] = i;
  std::vector<float> vals(n * 8, 1.5f);
  ASSERT_TRUE(t->insert(keys.data(), n, reinterpret_cast<char*>(vals.data()), {}).ok());
  const size_t full = t->allocated_bytes();
  ASSERT_TRUE(t->remove(keys.data() + 100, n - 100, {}).ok());
  ASSERT_EQ(t->size(), 100);
  // Index (5 bytes/slot) shrinks; row buffers keep capacity but release pages.
  EXPECT_LT(t->allocated_bytes(), full - n * 4);
  std::vector<float> out(100 * 8), def(8, 0.f);
  ASSERT_TRUE(t->find(keys.data(), 100, reinterpret_cast<char*>(out.data()),
                      reinterpret_cast<char*>(def.data()), false, nullptr, {}).ok());
  EXPECT_EQ(out, std::vector<float>(100 * 8, 1.5f));
  // Growing again after the shrink works.
  ASSERT_TRUE(t->insert(keys.data(), n, reinterpret_cast<char*>(vals.data()), {}).ok());
  EXPECT_EQ(t->size(), n);
}

// Writers insert/remove keys whose rows are constant (all elements equal a
// function of key and version); readers check every row they see is one of
// those constants, i.e. never torn, and keys never removed are always found.
TEST(CpuHashTable, ConcurrentMixedOpsNeverTearRowsOrLoseKeys) {
  const int64_t dim = 16;
  auto t = MakeTable<int64_t>(dim, 4);
  const int64_t stable = 2000;
  std::vector<int64_t> stable_keys(stable);
  std::vector<float> stable_vals(stable * dim);
  for (int64_t i = 0; i < stable; ++i) {
    stable_keys[i] = -1 - i;
    std::fill(stable_vals.begin() + i * dim, stable_vals.begin() + (i + 1) * dim, float(i));
  }
  ASSERT_TRUE(t->insert(stable_keys.data(), stable, reinterpret_cast<char*>(stable_vals.data()), {}).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  auto writer = [&](int id) {
    std::mt19937_64 rng(id);
    for (int it = 0; it < 300 * Scale(); ++it) {
      std::vector<int64_t> keys(500);
      for (auto& k : keys) k = rng() % 20000;
      std::vector<float> vals(keys.size() * dim);
      for (size_t i = 0; i < keys.size(); ++i)
        std::fill(vals.begin() + i * dim, vals.begin() + (i + 1) * dim, float(keys[i] * 10 + it % 10));
      if (!t->insert(keys.data(), keys.size(), reinterpret_cast<char*>(vals.data()), {}).ok()) failures++;
      keys.resize(200);
      if (!t->remove(keys.data(), keys.size(), {}).ok()) failures++;
    }
  };
  auto reader = [&]() {
    std::vector<int64_t> keys(400);
    std::vector<float> out(keys.size() * dim), def(dim, -1);
    std::mt19937_64 rng(99);
    while (!stop.load()) {
      for (size_t i = 0; i < keys.size(); ++i)
        keys[i] = i % 2 ? static_cast<int64_t>(rng() % 20000) : stable_keys[rng() % stable];
      std::unique_ptr<bool[]> ex(new bool[keys.size()]);
      t->find(keys.data(), keys.size(), reinterpret_cast<char*>(out.data()),
              reinterpret_cast<char*>(def.data()), false, ex.get(), {});
      for (size_t i = 0; i < keys.size(); ++i) {
        const float* r = &out[i * dim];
        for (int64_t d = 1; d < dim; ++d) if (r[d] != r[0]) failures++;
        if (keys[i] < 0 && (!ex[i] || r[0] != float(-1 - keys[i]))) failures++;
        if (keys[i] >= 0 && ex[i] && static_cast<int64_t>(r[0]) / 10 != keys[i]) failures++;
      }
    }
  };
  std::vector<std::thread> ws, rs;
  for (int i = 0; i < 3; ++i) ws.emplace_back(writer, i);
  for (int i = 0; i < 2; ++i) rs.emplace_back(reader);
  for (auto& w : ws) w.join();
  stop = true;
  for (auto& r : rs) r.join();
  EXPECT_EQ(failures.load(), 0);
}

struct MemSink : ByteSink {
  std::string data;
  Status Append(const char* d, size_t n) override { data.append(d, n); return Status::OK(); }
};
struct MemSource : ByteSource {
  std::string data;
  uint64_t Size() const override { return data.size(); }
  Status Read(uint64_t off, size_t n, char* dst) override {
    if (off + n > data.size()) return DataLoss("short read");
    std::memcpy(dst, data.data() + off, n);
    return Status::OK();
  }
};

// The bytes of a table file holding string `keys` and float rows `vals`
// (dim = vals.size() / keys.size()), written through a 64-byte buffer.
std::string StringKeyFile(const std::vector<std::string>& keys,
                          const std::vector<float>& vals) {
  MemSink sink;
  KvFileHeader h;
  h.key_kind = KeyKindOf<std::string>();
  h.value_dtype = 1;
  h.value_bytes = 4;
  h.dim = static_cast<int64_t>(vals.size() / keys.size());
  KvFileWriter<std::string> w(&sink, h, 64);
  EXPECT_TRUE(w.Begin().ok());
  EXPECT_TRUE(w.Write(keys.data(), reinterpret_cast<const char*>(vals.data()),
                      keys.size()).ok());
  EXPECT_TRUE(w.Finish().ok());
  return sink.data;
}

TEST(KvFile, RoundTripAndDetectsTruncationAndCorruption) {
  std::vector<std::string> keys;
  std::vector<float> vals;
  for (int i = 0; i < 1000; ++i) {
    keys.push_back(std::string("key\0", 4) + std::to_string(i));
    vals.push_back(i);
    vals.push_back(-i);
  }
  MemSource src;
  src.data = StringKeyFile(keys, vals);
  KvFileReader<std::string> r(&src, "mem", 100);
  ASSERT_TRUE(r.Open().ok());
  ASSERT_TRUE(r.Verify().ok());
  std::vector<std::string> got;
  std::vector<float> got_vals;
  ASSERT_TRUE(r.ReadAll([&](const std::string_view* k, const char* v, size_t c) {
    for (size_t i = 0; i < c; ++i) got.emplace_back(k[i]);
    const float* f = reinterpret_cast<const float*>(v);
    got_vals.insert(got_vals.end(), f, f + 2 * c);
    return Status::OK();
  }).ok());
  EXPECT_EQ(got, keys);
  EXPECT_EQ(got_vals, vals);

  MemSource truncated;
  truncated.data = src.data.substr(0, src.data.size() - 30);
  KvFileReader<std::string> rt(&truncated, "t", 100);
  EXPECT_EQ(rt.Open().code(), Code::kDataLoss);

  MemSource corrupt;
  corrupt.data = src.data;
  corrupt.data[100] ^= 0x5A;
  KvFileReader<std::string> rc(&corrupt, "c", 100);
  ASSERT_TRUE(rc.Open().ok());
  EXPECT_EQ(rc.Verify().code(), Code::kDataLoss);

  KvFileReader<int64_t> wrong_kind(&src, "w", 100);
  EXPECT_EQ(wrong_kind.Open().code(), Code::kInvalidArgument);
}

TEST(KvFile, ReadRangeStreamsEveryRecordInChunks) {
  std::vector<std::string> keys;
  std::vector<float> vals;
  for (int i = 0; i < 257; ++i) {
    keys.push_back(std::string(i % 7, '\0') + std::to_string(i));
    vals.push_back(i);
  }
  MemSource src;
  src.data = StringKeyFile(keys, vals);
  KvFileReader<std::string> r(&src, "mem", 100);
  ASSERT_TRUE(r.Open().ok());
  std::vector<std::string> got;
  std::vector<float> got_vals;
  uint64_t offset = r.FirstRecord();
  int calls = 0;
  while (offset < r.records_end()) {
    std::vector<std::string> k;
    std::vector<char> v;
    uint64_t next = 0;
    ASSERT_TRUE(r.ReadRange(offset, 10, &k, &v, &next).ok());
    ASSERT_LE(k.size(), 10u);
    ASSERT_EQ(v.size(), k.size() * 4);
    ASSERT_GT(next, offset);
    got.insert(got.end(), k.begin(), k.end());
    const float* f = reinterpret_cast<const float*>(v.data());
    got_vals.insert(got_vals.end(), f, f + k.size());
    offset = next;
    ++calls;
  }
  EXPECT_EQ(offset, r.records_end());
  EXPECT_EQ(calls, 26);
  EXPECT_EQ(got, keys);
  EXPECT_EQ(got_vals, vals);
  std::vector<std::string> k;
  std::vector<char> v;
  uint64_t next = 0;
  EXPECT_EQ(r.ReadRange(3, 10, &k, &v, &next).code(), Code::kInvalidArgument);
  EXPECT_EQ(r.ReadRange(r.records_end() + 1, 10, &k, &v, &next).code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace core
}  // namespace tfra

// UniqueKeys against a std::map reference: first-seen order, idx maps every
// position to its key's distinct number, for int64 and string keys (strings
// with embedded NULs, empty, long) and with heavy duplication.
TEST(UniqueKeys, MatchesFirstSeenOrderReference) {
  std::mt19937_64 rng(7);
  for (size_t n : {0u, 1u, 5u, 1000u, 50000u}) {
    std::vector<int64_t> keys(n);
    for (auto& k : keys) k = static_cast<int64_t>(rng() % (n / 3 + 1)) - 7;
    std::vector<int32_t> idx(n);
    std::vector<uint32_t> first;
    const size_t u = tfra::core::UniqueKeys(keys.data(), n, idx.data(), &first);
    std::map<int64_t, int32_t> seen;
    std::vector<int64_t> order;
    for (size_t i = 0; i < n; ++i) {
      auto it = seen.find(keys[i]);
      if (it == seen.end()) {
        it = seen.emplace(keys[i], static_cast<int32_t>(order.size())).first;
        order.push_back(keys[i]);
      }
      ASSERT_EQ(idx[i], it->second) << i;
    }
    ASSERT_EQ(u, order.size());
    for (size_t j = 0; j < u; ++j) ASSERT_EQ(keys[first[j]], order[j]);
  }
  const std::vector<std::string> strs = {"a", std::string("a\0b", 3), "", "a",
                                         std::string(40, 'k'), "",
                                         std::string("a\0c", 3)};
  std::vector<std::string_view> views(strs.begin(), strs.end());
  std::vector<int32_t> idx(views.size());
  std::vector<uint32_t> first;
  ASSERT_EQ(tfra::core::UniqueKeys(views.data(), views.size(), idx.data(), &first), 5u);
  EXPECT_EQ(idx, (std::vector<int32_t>{0, 1, 2, 0, 3, 2, 4}));
  EXPECT_EQ(first, (std::vector<uint32_t>{0, 1, 2, 4, 6}));
}

// Host-reference tests of the CUDA hash table core, with no TensorFlow and
// no GoogleTest (so the binary runs on a GPU machine that has only CUDA):
// every operation is checked against a std::unordered_map reference.
//
//   nvcc -std=c++17 -O2 -I<repo> cc/core/gpu/gpu_hash_table.cu \
//        cc/core/gpu/tests/gpu_table_test.cu -o gpu_table_test
//   ./gpu_table_test            # exit 0 passed, 1 failed, 77 no GPU
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cc/core/gpu/gpu_hash_table.h"
#include "cc/core/gpu/tests/test_util.cuh"

namespace tg = ::tfra::core::gpu;
using ::tfra::core::Allocator;
using ::tfra::core::Status;
using ::tfra::core::ValueType;

namespace {

using Row = std::vector<char>;

template <typename K>
struct Fixture {
  std::unique_ptr<Allocator> alloc = tg::NewCudaMallocAllocator();
  std::unique_ptr<tg::GpuHashTable<K>> table;
  cudaStream_t stream = nullptr;
  size_t row_bytes = 0;

  Status Make(const tg::GpuTableOptions& o) {
    Cuda(cudaStreamCreate(&stream));
    row_bytes = static_cast<size_t>(o.dim) * tfra::core::ValueTypeSize(o.value_type);
    return tg::GpuHashTable<K>::Create(o, alloc.get(), stream, &table);
  }
  ~Fixture() {
    table.reset();
    if (stream) cudaStreamDestroy(stream);
  }
  Status Insert(const std::vector<K>& keys, const std::vector<char>& values,
                std::vector<K>* dropped = nullptr) {
    Dev<K> k(keys);
    Dev<char> v(values);
    Dev<K> d(keys.size());
    size_t nd = 0;
    Status s = table->insert_or_assign(stream, k.ptr, keys.size(), v.ptr,
                                       nullptr, d.ptr, &nd);
    Cuda(cudaStreamSynchronize(stream));
    if (dropped) {
      auto all = d.Host();
      dropped->assign(all.begin(), all.begin() + nd);
    }
    return s;
  }
  // Finds keys; rows and found flags on the host.
  Status Find(const std::vector<K>& keys, const Row& dflt,
              std::vector<char>* rows, std::vector<bool>* found) {
    Dev<K> k(keys);
    Dev<char> out(keys.size() * row_bytes);
    Dev<char> def(dflt);
    Dev<char> ex(keys.size());  // bool flags, read back as bytes
    Status s = table->find(stream, k.ptr, keys.size(), out.ptr, def.ptr,
                           false, reinterpret_cast<bool*>(ex.ptr));
    Cuda(cudaStreamSynchronize(stream));
    *rows = out.Host();
    auto e = ex.Host();
    found->assign(e.begin(), e.end());
    return s;
  }
  std::unordered_map<K, Row> Export(size_t page) {
    std::unordered_map<K, Row> out;
    Dev<K> k(page);
    Dev<char> v(page * row_bytes);
    uint64_t cursor = 0;
    do {
      size_t count = 0;
      uint64_t next = 0;
      Status s = table->export_batch(stream, cursor, page, k.ptr, v.ptr,
                                     nullptr, &count, &next);
      if (!s.ok()) {
        std::fprintf(stderr, "export: %s\n", s.message().c_str());
        std::exit(1);
      }
      auto hk = k.Host();
      auto hv = v.Host();
      for (size_t i = 0; i < count; ++i) {
        if (!out.emplace(hk[i], Row(hv.begin() + i * row_bytes,
                                    hv.begin() + (i + 1) * row_bytes)).second) {
          std::fprintf(stderr, "export: key exported twice\n");
          std::exit(1);
        }
      }
      cursor = next;
    } while (cursor != 0);
    return out;
  }
};

template <typename K>
std::vector<K> SpecialKeys() {
  return {0, 1, -1, std::numeric_limits<K>::max(), std::numeric_limits<K>::min(),
          7, -7};
}

template <typename K>
std::vector<K> DistinctKeys(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::unordered_set<K> seen;
  std::vector<K> keys = SpecialKeys<K>();
  for (K k : keys) seen.insert(k);
  while (keys.size() < n) {
    const K k = static_cast<K>(rng());
    if (seen.insert(k).second) keys.push_back(k);
  }
  keys.resize(n);
  return keys;
}

std::vector<char> RandomRows(size_t n, size_t row_bytes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<char> v(n * row_bytes);
  for (auto& c : v) c = static_cast<char>(rng() & 0x3f);  // small, finite
  return v;
}

// Inserts with duplicates (last wins), finds hits and misses, removes some,
// exports, clears; every step against the reference map.
template <typename K>
void TestInsertFindRemove(int64_t dim, ValueType type, uint64_t init) {
  Fixture<K> f;
  tg::GpuTableOptions o;
  o.dim = dim;
  o.value_type = type;
  o.init_capacity = init;
  CHECK_OK(f.Make(o));
  const size_t rb = f.row_bytes;
  std::unordered_map<K, Row> ref;
  std::vector<K> keys = DistinctKeys<K>(5000, 1);
  for (int round = 0; round < 3; ++round) {
    // A batch with duplicates: every key twice, second copy later.
    std::vector<K> batch;
    for (size_t i = round; i < keys.size(); i += 2) batch.push_back(keys[i]);
    const size_t half = batch.size();
    for (size_t i = 0; i < half; i += 3) batch.push_back(batch[i]);
    std::vector<char> rows = RandomRows(batch.size(), rb, 100 + round);
    CHECK_OK(f.Insert(batch, rows));
    for (size_t i = 0; i < batch.size(); ++i) {
      ref[batch[i]] = Row(rows.begin() + i * rb, rows.begin() + (i + 1) * rb);
    }
  }
  int64_t size = 0;
  CHECK_OK(f.table->size(f.stream, &size));
  CHECK_TRUE(size == static_cast<int64_t>(ref.size()), "size %lld vs %zu",
             static_cast<long long>(size), ref.size());
  std::vector<K> probe = DistinctKeys<K>(7000, 1);  // 2,000 misses
  Row dflt(rb, 0x55);
  std::vector<char> got;
  std::vector<bool> found;
  CHECK_OK(f.Find(probe, dflt, &got, &found));
  for (size_t i = 0; i < probe.size(); ++i) {
    auto it = ref.find(probe[i]);
    CHECK_TRUE(found[i] == (it != ref.end()), "exists of key %zu", i);
    const Row& want = it != ref.end() ? it->second : dflt;
    CHECK_TRUE(std::memcmp(got.data() + i * rb, want.data(), rb) == 0,
               "row of key %zu", i);
  }
  // Remove a third (and some absent keys).
  std::vector<K> gone(probe.begin(), probe.begin() + 2400);
  {
    Dev<K> d(gone);
    CHECK_OK(f.table->remove(f.stream, d.ptr, gone.size()));
  }
  for (K k : gone) ref.erase(k);
  CHECK_OK(f.table->size(f.stream, &size));
  CHECK_TRUE(size == static_cast<int64_t>(ref.size()), "size after remove");
  auto exported = f.Export(1000);
  CHECK_TRUE(exported == ref, "export differs from the reference");
  CHECK_OK(f.table->clear(f.stream));
  CHECK_OK(f.table->size(f.stream, &size));
  CHECK_TRUE(size == 0, "size after clear");
  CHECK_TRUE(f.Export(4096).empty(), "export after clear");
}

// Accum: inserts for !exists (first duplicate wins, a present row is left
// alone), deltas for exists (all add; absent keys skipped).
template <typename K>
void TestAccum() {
  Fixture<K> f;
  tg::GpuTableOptions o;
  o.dim = 4;
  CHECK_OK(f.Make(o));
  auto row = [](float a) {
    Row r(16);
    for (int j = 0; j < 4; ++j) {
      const float v = a + j;
      std::memcpy(r.data() + 4 * j, &v, 4);
    }
    return r;
  };
  CHECK_OK(f.Insert({1, 2}, [&] { Row a = row(10), b = row(20);
                                  a.insert(a.end(), b.begin(), b.end());
                                  return a; }()));
  // 1: delta +1 twice; 2: !exists (present: skipped); 3: inserted twice,
  // first wins; 4: delta on an absent key (skipped).
  std::vector<K> keys = {1, 1, 2, 3, 3, 4};
  std::vector<bool> ex = {true, true, false, false, false, true};
  std::vector<char> vals;
  for (float a : {1.f, 1.f, 99.f, 30.f, 31.f, 5.f}) {
    Row r = row(a);
    vals.insert(vals.end(), r.begin(), r.end());
  }
  Dev<K> dk(keys);
  Dev<char> dv(vals);
  std::vector<char> exb(ex.begin(), ex.end());
  Dev<char> de(exb);
  size_t nd = 0;
  CHECK_OK(f.table->accum(f.stream, dk.ptr, keys.size(), dv.ptr,
                          reinterpret_cast<const bool*>(de.ptr), nullptr, &nd));
  std::vector<char> got;
  std::vector<bool> found;
  CHECK_OK(f.Find({1, 2, 3, 4}, Row(16, 0), &got, &found));
  auto at = [&](int i, int j) {
    float v;
    std::memcpy(&v, got.data() + 16 * i + 4 * j, 4);
    return v;
  };
  for (int j = 0; j < 4; ++j) {
    CHECK_TRUE(at(0, j) == 12.f + 2 * j, "key 1 col %d: %f", j, at(0, j));
    CHECK_TRUE(at(1, j) == 20.f + j, "key 2 col %d: %f", j, at(1, j));
    CHECK_TRUE(at(2, j) == 30.f + j, "key 3 col %d: %f", j, at(2, j));
  }
  CHECK_TRUE(found[0] && found[1] && found[2] && !found[3], "found flags");
}

// Growth from one bucket to many keeps every row.
template <typename K>
void TestGrowth() {
  Fixture<K> f;
  tg::GpuTableOptions o;
  o.dim = 2;
  o.init_capacity = 1;
  CHECK_OK(f.Make(o));
  const uint64_t first = f.table->capacity();
  std::unordered_map<K, Row> ref;
  for (int round = 0; round < 8; ++round) {
    std::vector<K> keys = DistinctKeys<K>(20000 * (round + 1), 7);
    keys.erase(keys.begin(), keys.begin() + 20000 * round);
    std::vector<char> rows = RandomRows(keys.size(), f.row_bytes, round);
    CHECK_OK(f.Insert(keys, rows));
    for (size_t i = 0; i < keys.size(); ++i) {
      ref[keys[i]] = Row(rows.begin() + i * f.row_bytes,
                         rows.begin() + (i + 1) * f.row_bytes);
    }
  }
  CHECK_TRUE(f.table->capacity() > first, "the table did not grow");
  CHECK_TRUE(f.Export(1 << 16) == ref, "rows lost or changed by growth");
}

// A bounded table never exceeds its slots; every written key is either
// present with its row or reported dropped; LRU keeps the newest rows.
template <typename K>
void TestBounded(tg::GpuEvictPolicy policy) {
  Fixture<K> f;
  tg::GpuTableOptions o;
  o.dim = 4;
  o.max_capacity = 4 * tg::kBucketSlots;
  o.policy = policy;
  CHECK_OK(f.Make(o));
  std::unordered_map<K, Row> ref;
  std::unordered_set<K> dropped_all;
  std::vector<K> keys = DistinctKeys<K>(4000, 3);
  for (size_t begin = 0; begin < keys.size(); begin += 500) {
    std::vector<K> batch(keys.begin() + begin, keys.begin() + begin + 500);
    std::vector<char> rows = RandomRows(batch.size(), f.row_bytes, begin);
    std::vector<K> dropped;
    CHECK_OK(f.Insert(batch, rows, &dropped));
    for (size_t i = 0; i < batch.size(); ++i) {
      ref[batch[i]] = Row(rows.begin() + i * f.row_bytes,
                          rows.begin() + (i + 1) * f.row_bytes);
    }
    for (K k : dropped) {
      CHECK_TRUE(ref.erase(k) == 1, "a dropped key was never present");
    }
  }
  int64_t size = 0;
  CHECK_OK(f.table->size(f.stream, &size));
  CHECK_TRUE(size <= static_cast<int64_t>(o.max_capacity), "over capacity");
  CHECK_TRUE(f.table->capacity() == o.max_capacity, "a bounded table grew");
  CHECK_TRUE(f.Export(512) == ref, "content differs from written - dropped");
}

// One bucket (128 slots): LRU evicts the rows written longest ago, LFU the
// least written ones.
template <typename K>
void TestEvictionOrder(tg::GpuEvictPolicy policy) {
  Fixture<K> f;
  tg::GpuTableOptions o;
  o.dim = 1;
  o.max_capacity = tg::kBucketSlots;
  o.policy = policy;
  CHECK_OK(f.Make(o));
  std::vector<K> keys = DistinctKeys<K>(2 * tg::kBucketSlots, 5);
  std::vector<K> old(keys.begin(), keys.begin() + tg::kBucketSlots);
  std::vector<K> hot(old.begin(), old.begin() + tg::kBucketSlots / 2);
  std::vector<K> fresh(keys.begin() + tg::kBucketSlots,
                       keys.begin() + tg::kBucketSlots + (policy == tg::GpuEvictPolicy::kLru
                                                               ? tg::kBucketSlots / 2 : 1));
  std::vector<K> dropped;
  CHECK_OK(f.Insert(old, RandomRows(old.size(), 4, 1), &dropped));
  CHECK_TRUE(dropped.empty(), "a fitting batch dropped keys");
  if (policy == tg::GpuEvictPolicy::kLfu) {
    CHECK_OK(f.Insert(old, RandomRows(old.size(), 4, 2), &dropped));
  }
  CHECK_OK(f.Insert(hot, RandomRows(hot.size(), 4, 3), &dropped));
  CHECK_OK(f.Insert(fresh, RandomRows(fresh.size(), 4, 4), &dropped));
  CHECK_TRUE(dropped.size() == fresh.size(), "dropped %zu, want %zu",
             dropped.size(), fresh.size());
  std::unordered_set<K> cold(old.begin() + hot.size(), old.end());
  for (K k : dropped) CHECK_TRUE(cold.count(k) == 1, "evicted a hot or new key");
  if (policy == tg::GpuEvictPolicy::kLru) {
    std::unordered_set<K> got(dropped.begin(), dropped.end());
    CHECK_TRUE(got == cold, "LRU did not evict exactly the cold rows");
  }
}

// Two streams insert disjoint keys while a third reads: no row is lost,
// torn or mixed.
template <typename K>
void TestConcurrentStreams() {
  Fixture<K> f;
  tg::GpuTableOptions o;
  o.dim = 16;
  o.init_capacity = 1 << 12;
  CHECK_OK(f.Make(o));
  std::vector<K> keys = DistinctKeys<K>(60000, 11);
  std::vector<char> rows(keys.size() * f.row_bytes);
  // Row of key i: 16 floats all equal to i (a torn row would mix two).
  for (size_t i = 0; i < keys.size(); ++i) {
    for (int j = 0; j < 16; ++j) {
      const float v = static_cast<float>(i);
      std::memcpy(rows.data() + i * f.row_bytes + 4 * j, &v, 4);
    }
  }
  Dev<K> dk(keys);
  Dev<char> dv(rows);
  std::vector<std::thread> writers;
  std::vector<Status> status(3);
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      cudaStream_t s;
      cudaStreamCreate(&s);
      const size_t half = keys.size() / 2;
      for (size_t b = 0; b < half && status[t].ok(); b += 5000) {
        status[t] = f.table->insert_or_assign(
            s, dk.ptr + t * half + b, 5000, dv.ptr + (t * half + b) * f.row_bytes,
            nullptr, nullptr, nullptr);
      }
      cudaStreamSynchronize(s);
      cudaStreamDestroy(s);
    });
  }
  writers.emplace_back([&] {
    cudaStream_t s;
    cudaStreamCreate(&s);
    Dev<char> out(keys.size() * f.row_bytes);
    Row zero(f.row_bytes, 0);
    Dev<char> def(zero);
    for (int r = 0; r < 20 && status[2].ok(); ++r) {
      status[2] = f.table->find(s, dk.ptr, keys.size(), out.ptr, def.ptr,
                                false, nullptr);
      cudaStreamSynchronize(s);
      auto got = out.Host();
      for (size_t i = 0; i < keys.size(); ++i) {
        float first;
        std::memcpy(&first, got.data() + i * f.row_bytes, 4);
        for (int j = 1; j < 16; ++j) {
          float v;
          std::memcpy(&v, got.data() + i * f.row_bytes + 4 * j, 4);
          if (v != first) status[2] = Status(tfra::core::Code::kInternal, "torn row");
        }
        if (first != 0.f && first != static_cast<float>(i)) {
          status[2] = Status(tfra::core::Code::kInternal, "row of another key");
        }
      }
    }
    cudaStreamDestroy(s);
  });
  for (auto& w : writers) w.join();
  for (const Status& s : status) CHECK_OK(s);
  std::vector<char> got;
  std::vector<bool> found;
  CHECK_OK(f.Find(keys, Row(f.row_bytes, 0), &got, &found));
  CHECK_TRUE(got == rows, "rows after concurrent inserts");
}

void TestBadOptions() {
  auto alloc = tg::NewCudaMallocAllocator();
  std::unique_ptr<tg::GpuHashTable<int64_t>> t;
  tg::GpuTableOptions o;
  o.dim = 0;
  CHECK_TRUE(!tg::GpuHashTable<int64_t>::Create(o, alloc.get(), nullptr, &t).ok(),
             "dim 0 accepted");
  o.dim = 4;
  CHECK_TRUE(!tg::GpuHashTable<int64_t>::Create(o, nullptr, nullptr, &t).ok(),
             "no allocator accepted");
}

}  // namespace

int main() {
  if (SkipWithoutGpu()) return 77;
  RUN(TestBadOptions());
  RUN(TestInsertFindRemove<int64_t>(8, ValueType::kFloat32, 1 << 12));
  RUN(TestInsertFindRemove<int64_t>(64, ValueType::kFloat32, 1 << 14));
  RUN(TestInsertFindRemove<int64_t>(3, ValueType::kFloat16, 128));
  RUN(TestInsertFindRemove<int32_t>(5, ValueType::kBFloat16, 1 << 12));
  RUN(TestInsertFindRemove<int32_t>(7, ValueType::kInt8, 1 << 12));
  RUN(TestInsertFindRemove<int64_t>(2, ValueType::kFloat64, 1 << 12));
  RUN(TestAccum<int64_t>());
  RUN(TestAccum<int32_t>());
  RUN(TestGrowth<int64_t>());
  RUN(TestGrowth<int32_t>());
  RUN(TestBounded<int64_t>(tg::GpuEvictPolicy::kLru));
  RUN(TestBounded<int64_t>(tg::GpuEvictPolicy::kLfu));
  RUN(TestBounded<int32_t>(tg::GpuEvictPolicy::kLru));
  RUN(TestEvictionOrder<int64_t>(tg::GpuEvictPolicy::kLru));
  RUN(TestEvictionOrder<int32_t>(tg::GpuEvictPolicy::kLru));
  RUN(TestEvictionOrder<int64_t>(tg::GpuEvictPolicy::kLfu));
  RUN(TestConcurrentStreams<int64_t>());
  return Finish();
}

// The table conformance suite: the behaviour every backend must have,
// written once against the device-neutral API (table.h) and run for every
// (backend, key type) pair in kCases. Tables are made through the
// TableFactory by backend name, so the suite also covers registration.
//
// Adding a backend: register it (TFRA_REGISTER_TABLE_BACKEND), add a tag
// type with its name and buffer helpers (host backends use HostBuffers; a
// device backend's helpers copy test data to and from device memory), and
// add its cases to kCases, under the build flag that compiles it.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cc/core/capabilities.h"
#include "cc/core/table.h"
#include "cc/core/table_factory.h"
#include "cc/core/tests/test_util.h"
#include "gtest/gtest.h"

namespace tfra {
namespace core {
namespace {

using testing_util::Scale;
using testing_util::ThreadsPF;

// Host backends read and write test buffers in place.
struct HostBuffers {
  template <typename T>
  static std::vector<T> In(const std::vector<T>& v) { return v; }
  template <typename T>
  static std::vector<T> Out(const std::vector<T>& v) { return v; }
};

struct CpuBackend : HostBuffers {
  static constexpr const char* kName = "cpu";
};

template <typename Backend, typename K>
struct Case {
  using B = Backend;
  using Key = K;
};

template <typename K>
K MakeKey(int64_t i);
template <>
int64_t MakeKey<int64_t>(int64_t i) { return i * 7919 - 50000; }
template <>
int32_t MakeKey<int32_t>(int64_t i) { return static_cast<int32_t>(i * 31 - 999); }
template <>
std::string MakeKey<std::string>(int64_t i) {
  // Embedded NUL and varying lengths: keys are bytes, not C strings.
  return std::string("id\0", 3) + std::to_string(i) + std::string(i % 5, 'x');
}

template <typename K> KeyKind KindOf();
template <> KeyKind KindOf<int64_t>() { return KeyKind::kInt64; }
template <> KeyKind KindOf<int32_t>() { return KeyKind::kInt32; }
template <> KeyKind KindOf<std::string>() { return KeyKind::kString; }

// Row i of the tests: dim floats, all derived from i and a salt.
std::vector<float> RowOf(int64_t i, int64_t dim, float salt = 0) {
  std::vector<float> r(dim);
  for (int64_t d = 0; d < dim; ++d) r[d] = static_cast<float>(i) * 0.25f + d + salt;
  return r;
}

template <typename C>
class Conformance : public ::testing::Test {
 protected:
  using K = typename C::Key;
  using Arg = KeyArg<K>;
  static constexpr int64_t kDim = 4;

  void SetUp() override {
    exec_.parallel_for = ThreadsPF(2);
    table_ = Make(kDim);
    ASSERT_NE(table_, nullptr);
  }

  std::unique_ptr<Table<K>> Make(int64_t dim,
                                 ValueType vt = ValueType::kFloat32) {
    TableOptions opt;
    opt.dim = dim;
    opt.value_type = vt;
    std::unique_ptr<TableBase> base;
    const Status st = TableFactory::Create(C::B::kName, KindOf<K>(), opt, &base);
    EXPECT_TRUE(st.ok()) << st.message();
    if (!st.ok()) return nullptr;
    return std::unique_ptr<Table<K>>(static_cast<Table<K>*>(base.release()));
  }

  // Keys [first, first + n) as owned keys and as the Arg views passed in.
  struct Keys {
    std::vector<K> owned;
    std::vector<Arg> args;
  };
  static Keys KeysOf(int64_t first, int64_t n) {
    Keys k;
    for (int64_t i = first; i < first + n; ++i) k.owned.push_back(MakeKey<K>(i));
    for (const K& key : k.owned) k.args.push_back(Arg(key));
    return k;
  }
  static std::vector<float> RowsOf(int64_t first, int64_t n, float salt = 0) {
    std::vector<float> rows;
    for (int64_t i = first; i < first + n; ++i) {
      const auto r = RowOf(i, kDim, salt);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    return rows;
  }

  void Insert(const Keys& k, const std::vector<float>& rows) {
    const auto in = C::B::In(rows);
    ASSERT_TRUE(table_->insert_or_assign(exec_, k.args.data(), k.args.size(),
                                         reinterpret_cast<const char*>(in.data()))
                    .ok());
  }

  // Finds keys; returns rows and fills *exists.
  std::vector<float> Find(const Keys& k, std::vector<char>* exists,
                          float default_value = -1) {
    std::vector<float> out(k.args.size() * kDim);
    std::vector<float> def(kDim, default_value);
    std::unique_ptr<bool[]> found(new bool[k.args.size() + 1]);
    EXPECT_TRUE(table_->find(exec_, k.args.data(), k.args.size(),
                             reinterpret_cast<char*>(out.data()),
                             reinterpret_cast<const char*>(def.data()), false,
                             found.get())
                    .ok());
    exists->assign(found.get(), found.get() + k.args.size());
    return C::B::Out(out);
  }

  // Every row through export_batch pages of `page` rows: key -> row.
  std::map<K, std::vector<float>> ExportAll(size_t page, size_t* rows_seen) {
    std::map<K, std::vector<float>> out;
    uint64_t cursor = 0;
    *rows_seen = 0;
    do {
      std::vector<K> keys(page);
      std::vector<float> values(page * kDim);
      std::vector<RowMeta> metas(page);
      size_t count = 0;
      EXPECT_TRUE(table_->export_batch(exec_, cursor, page, keys.data(),
                                       reinterpret_cast<char*>(values.data()),
                                       metas.data(), &count, &cursor)
                      .ok());
      EXPECT_LE(count, page);
      for (size_t i = 0; i < count; ++i) {
        out[keys[i]] = std::vector<float>(values.begin() + i * kDim,
                                          values.begin() + (i + 1) * kDim);
      }
      *rows_seen += count;
    } while (cursor != 0);
    return out;
  }

  ExecContext exec_;
  std::unique_ptr<Table<K>> table_;
};

using kCases = ::testing::Types<Case<CpuBackend, int64_t>,
                                Case<CpuBackend, int32_t>,
                                Case<CpuBackend, std::string>>;
TYPED_TEST_SUITE(Conformance, kCases);

TYPED_TEST(Conformance, DescribesItself) {
  EXPECT_STREQ(this->table_->backend(), TypeParam::B::kName);
  EXPECT_EQ(this->table_->dim(), this->kDim);
  EXPECT_EQ(this->table_->value_type(), ValueType::kFloat32);
  EXPECT_EQ(this->table_->row_bytes(), this->kDim * sizeof(float));
  EXPECT_EQ(this->table_->size(this->exec_), 0);
  MemorySpace space;
  ASSERT_TRUE(TableFactory::SpaceOf(TypeParam::B::kName, &space));
  EXPECT_EQ(space, this->table_->memory_space());
}

TYPED_TEST(Conformance, FindReturnsInsertedRowsAndDefaults) {
  const auto k = this->KeysOf(0, 300);
  this->Insert(k, this->RowsOf(0, 300));
  EXPECT_EQ(this->table_->size(this->exec_), 300);
  const auto probe = this->KeysOf(200, 200);  // 100 present, 100 missing
  std::vector<char> exists;
  const auto rows = this->Find(probe, &exists, -7);
  for (int64_t i = 0; i < 200; ++i) {
    const bool present = 200 + i < 300;
    EXPECT_EQ(exists[i] != 0, present) << i;
    const auto want = present ? RowOf(200 + i, this->kDim)
                              : std::vector<float>(this->kDim, -7);
    EXPECT_EQ(std::vector<float>(rows.begin() + i * this->kDim,
                                 rows.begin() + (i + 1) * this->kDim),
              want) << i;
  }
}

TYPED_TEST(Conformance, PerKeyDefaults) {
  const auto k = this->KeysOf(0, 3);
  this->Insert(this->KeysOf(1, 1), this->RowsOf(1, 1));
  std::vector<float> defaults = this->RowsOf(100, 3);
  std::vector<float> out(3 * this->kDim);
  ASSERT_TRUE(this->table_->find(this->exec_, k.args.data(), 3,
                                 reinterpret_cast<char*>(out.data()),
                                 reinterpret_cast<const char*>(defaults.data()),
                                 true, nullptr)
                  .ok());
  std::vector<float> want = this->RowsOf(100, 3);
  const auto row1 = RowOf(1, this->kDim);
  std::copy(row1.begin(), row1.end(), want.begin() + this->kDim);
  EXPECT_EQ(out, want);
}

TYPED_TEST(Conformance, DuplicateKeysInOneInsertLastWins) {
  auto k = this->KeysOf(5, 1);
  k.owned.push_back(k.owned[0]);
  k.args.assign(k.owned.begin(), k.owned.end());
  std::vector<float> rows = this->RowsOf(5, 1, 0);
  const auto second = RowOf(5, this->kDim, 100);
  rows.insert(rows.end(), second.begin(), second.end());
  this->Insert(k, rows);
  EXPECT_EQ(this->table_->size(this->exec_), 1);
  std::vector<char> exists;
  EXPECT_EQ(this->Find(this->KeysOf(5, 1), &exists), second);
}

// present & exists: add; absent & !exists: insert; otherwise skipped; a
// duplicate key accumulates every one of its deltas in order.
TYPED_TEST(Conformance, AccumFollowsTheExistsMask) {
  this->Insert(this->KeysOf(0, 2), this->RowsOf(0, 2));  // keys 0, 1 present
  auto k = this->KeysOf(0, 4);                            // 0, 1, 2, 3
  k.owned.push_back(k.owned[0]);                          // 0 again
  k.args.assign(k.owned.begin(), k.owned.end());
  const bool mask[] = {true, false, false, true, true};
  std::vector<float> deltas(5 * this->kDim, 1.0f);
  ASSERT_TRUE(this->table_->accum(this->exec_, k.args.data(), 5,
                                  reinterpret_cast<const char*>(deltas.data()),
                                  mask)
                  .ok());
  std::vector<char> exists;
  const auto rows = this->Find(this->KeysOf(0, 4), &exists, -1);
  auto row = [&](int i) {
    return std::vector<float>(rows.begin() + i * this->kDim,
                              rows.begin() + (i + 1) * this->kDim);
  };
  auto plus = [&](int64_t i, float d) {
    auto r = RowOf(i, this->kDim);
    for (float& x : r) x += d;
    return r;
  };
  EXPECT_EQ(row(0), plus(0, 2));                            // added twice
  EXPECT_EQ(row(1), RowOf(1, this->kDim));                  // skipped
  EXPECT_EQ(row(2), std::vector<float>(this->kDim, 1.0f));  // inserted
  EXPECT_EQ(exists[3], 0);                                  // skipped
  EXPECT_EQ(this->table_->size(this->exec_), 3);
}

TYPED_TEST(Conformance, RemoveAndClear) {
  this->Insert(this->KeysOf(0, 100), this->RowsOf(0, 100));
  const auto gone = this->KeysOf(0, 40);
  ASSERT_TRUE(this->table_->remove(this->exec_, gone.args.data(), 40).ok());
  EXPECT_EQ(this->table_->size(this->exec_), 60);
  std::vector<char> exists;
  const auto rows = this->Find(this->KeysOf(0, 100), &exists);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(exists[i] != 0, i >= 40) << i;
  EXPECT_EQ(std::vector<float>(rows.begin() + 50 * this->kDim,
                               rows.begin() + 51 * this->kDim),
            RowOf(50, this->kDim));
  ASSERT_TRUE(this->table_->clear(this->exec_).ok());
  EXPECT_EQ(this->table_->size(this->exec_), 0);
}

TYPED_TEST(Conformance, EmptyBatchesAreNoOps) {
  const auto none = this->KeysOf(0, 0);
  ASSERT_TRUE(this->table_->insert_or_assign(this->exec_, none.args.data(), 0,
                                             nullptr).ok());
  ASSERT_TRUE(this->table_->accum(this->exec_, none.args.data(), 0, nullptr,
                                  nullptr).ok());
  ASSERT_TRUE(this->table_->remove(this->exec_, none.args.data(), 0).ok());
  ASSERT_TRUE(this->table_->find(this->exec_, none.args.data(), 0, nullptr,
                                 nullptr, false, nullptr).ok());
  EXPECT_EQ(this->table_->size(this->exec_), 0);
}

// Every page size covers each row exactly once; the last page ends the pass.
TYPED_TEST(Conformance, ExportBatchCoversEveryRowOnce) {
  const int64_t n = 2000 * Scale();
  this->Insert(this->KeysOf(0, n), this->RowsOf(0, n));
  for (size_t page : {size_t{1}, size_t{7}, size_t{1000}, size_t{1} << 20}) {
    size_t seen = 0;
    const auto rows = this->ExportAll(page, &seen);
    ASSERT_EQ(seen, static_cast<size_t>(n)) << "page " << page;
    ASSERT_EQ(rows.size(), static_cast<size_t>(n)) << "page " << page;
    for (int64_t i = 0; i < n; i += 97) {
      ASSERT_EQ(rows.at(MakeKey<typename TypeParam::Key>(i)), RowOf(i, this->kDim));
    }
  }
  std::vector<typename TypeParam::Key> k(1);
  std::vector<float> v(this->kDim);
  size_t count = 0;
  uint64_t next = 0;
  EXPECT_EQ(this->table_->export_batch(this->exec_, 0, 0, k.data(),
                                       reinterpret_cast<char*>(v.data()),
                                       nullptr, &count, &next).code(),
            Code::kInvalidArgument);
}

TYPED_TEST(Conformance, ExportOfAnEmptyTableEndsAtOnce) {
  size_t seen = 1;
  EXPECT_TRUE(this->ExportAll(16, &seen).empty());
  EXPECT_EQ(seen, 0u);
}

TYPED_TEST(Conformance, ImportReplacesTheContent) {
  this->Insert(this->KeysOf(0, 50), this->RowsOf(0, 50));
  const auto k = this->KeysOf(1000, 20);
  const auto rows = this->RowsOf(1000, 20, 3);
  ASSERT_TRUE(this->table_->import_replace(this->exec_, k.args.data(), 20,
                                           reinterpret_cast<const char*>(rows.data()))
                  .ok());
  EXPECT_EQ(this->table_->size(this->exec_), 20);
  std::vector<char> exists;
  EXPECT_EQ(this->Find(k, &exists), rows);
  this->Find(this->KeysOf(0, 50), &exists);
  EXPECT_EQ(std::count(exists.begin(), exists.end(), 1), 0);
}

// Readers racing writers never see a torn row: every row written has all
// elements equal, so a mixed row is detectable.
TYPED_TEST(Conformance, ConcurrentReadersNeverSeeTornRows) {
  const int64_t n = 512;
  const auto k = this->KeysOf(0, n);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  auto writer = [&](float base) {
    for (int round = 0; round < 50 * Scale(); ++round) {
      std::vector<float> rows(n * this->kDim, base + round);
      EXPECT_TRUE(this->table_->insert_or_assign(
          this->exec_, k.args.data(), n,
          reinterpret_cast<const char*>(rows.data())).ok());
    }
  };
  auto reader = [&] {
    std::vector<float> out(n * this->kDim), def(this->kDim, 0);
    while (!stop.load()) {
      EXPECT_TRUE(this->table_->find(this->exec_, k.args.data(), n,
                                     reinterpret_cast<char*>(out.data()),
                                     reinterpret_cast<const char*>(def.data()),
                                     false, nullptr).ok());
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t d = 1; d < this->kDim; ++d) {
          if (out[i * this->kDim + d] != out[i * this->kDim]) ++torn;
        }
      }
    }
  };
  std::thread r1(reader), r2(reader);
  std::thread w1(writer, 0.0f), w2(writer, 1000.0f);
  w1.join();
  w2.join();
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(this->table_->size(this->exec_), n);
}

TYPED_TEST(Conformance, CapabilitiesAreConsistent) {
  // What a backend offers it offers for every key type; queries are cheap
  // and stable.
  EXPECT_EQ(this->table_->as_bounded(), this->table_->as_bounded());
  if (std::string(TypeParam::B::kName) == "cpu") {
    EXPECT_NE(this->table_->as_bounded(), nullptr);
    EXPECT_NE(this->table_->as_snapshots(), nullptr);
    EXPECT_NE(this->table_->as_sketch(), nullptr);
  }
  const Status missing = MissingCapability(*this->table_, "widgets");
  EXPECT_EQ(missing.code(), Code::kFailedPrecondition);
  EXPECT_NE(missing.message().find(TypeParam::B::kName), std::string::npos);
}

TEST(TableFactory, UnknownBackendIsNotFoundAndNamesTheBuiltOnes) {
  std::unique_ptr<TableBase> t;
  const Status st = TableFactory::Create("nosuch", KeyKind::kInt64,
                                         TableOptions(), &t);
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find("'nosuch'"), std::string::npos);
  EXPECT_NE(st.message().find("cpu"), std::string::npos);
  EXPECT_EQ(t, nullptr);
}

TEST(TableFactory, ARegisteredNameCannotBeTakenTwice) {
  EXPECT_FALSE(TableFactory::Register(
      "cpu", MemorySpace::kHost,
      [](KeyKind, const TableOptions&, std::unique_ptr<TableBase>*) {
        return Status::OK();
      }));
}

}  // namespace
}  // namespace core
}  // namespace tfra

// Host staging for device backends (cc/core/device_rows.h), tested on the
// host: a fake device table (the CPU table behind a kDevice memory space)
// refuses any key or value pointer that is not in its "device" arena, and
// the ExecContext's copies check their direction, so a staging path that
// handed host memory to the device table, or device memory to a callback,
// fails here.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "cc/core/device_rows.h"
#include "cc/core/table_factory.h"

namespace tfra {
namespace core {
namespace {

// Allocations tracked by address range, so pointers can be told apart.
class Arena : public Allocator {
 public:
  void* allocate(size_t bytes, size_t) override {
    auto block = std::make_unique<char[]>(bytes);
    char* p = block.get();
    blocks_[p] = {std::move(block), bytes};
    return p;
  }
  void deallocate(void* ptr) override {
    blocks_.erase(static_cast<char*>(ptr));
  }
  bool owns(const void* p, size_t bytes) const {
    const char* c = static_cast<const char*>(p);
    auto it = blocks_.upper_bound(const_cast<char*>(c));
    if (it == blocks_.begin()) return false;
    --it;
    return c >= it->first && c + bytes <= it->first + it->second.second;
  }
  size_t live() const { return blocks_.size(); }

 private:
  std::map<char*, std::pair<std::unique_ptr<char[]>, size_t>> blocks_;
};

// The CPU table, but declaring device memory and checking that every
// buffer it is given lies in the device arena.
class FakeDeviceTable : public Table<int64_t> {
 public:
  FakeDeviceTable(std::unique_ptr<Table<int64_t>> inner, const Arena* device)
      : inner_(std::move(inner)), device_(device) {}

  const char* backend() const override { return "fakegpu"; }
  MemorySpace memory_space() const override { return MemorySpace::kDevice; }
  int64_t size(const ExecContext& c) const override { return inner_->size(c); }
  int64_t dim() const override { return inner_->dim(); }
  ValueType value_type() const override { return inner_->value_type(); }
  size_t allocated_bytes() const override { return inner_->allocated_bytes(); }
  Status clear(const ExecContext& c) override { return inner_->clear(c); }
  Status find(const ExecContext& c, const Arg* k, size_t n, char* v,
              const char* d, bool per_key, bool* e) const override {
    return inner_->find(c, k, n, v, d, per_key, e);
  }
  Status insert_or_assign(const ExecContext& c, const Arg* k, size_t n,
                          const char* v) override {
    if (!OnDevice(k, n * sizeof(Arg)) || !OnDevice(v, n * row_bytes())) {
      return Status(Code::kInternal, "insert got host memory");
    }
    ++inserts;
    return inner_->insert_or_assign(c, k, n, v);
  }
  Status accum(const ExecContext& c, const Arg* k, size_t n, const char* v,
               const bool* e) override {
    return inner_->accum(c, k, n, v, e);
  }
  Status remove(const ExecContext& c, const Arg* k, size_t n) override {
    return inner_->remove(c, k, n);
  }
  Status export_batch(const ExecContext& c, uint64_t cursor, size_t max_rows,
                      int64_t* k, char* v, RowMeta* m, size_t* count,
                      uint64_t* next) const override {
    if (!OnDevice(k, max_rows * sizeof(int64_t)) ||
        !OnDevice(v, max_rows * row_bytes())) {
      return Status(Code::kInternal, "export_batch got host memory");
    }
    return inner_->export_batch(c, cursor, max_rows, k, v, m, count, next);
  }
  Status import_replace(const ExecContext& c, const Arg* k, size_t n,
                        const char* v) override {
    return inner_->import_replace(c, k, n, v);
  }
  Table<int64_t>* host() { return inner_.get(); }
  int inserts = 0;

 private:
  bool OnDevice(const void* p, size_t bytes) const {
    return bytes == 0 || device_->owns(p, bytes);
  }
  std::unique_ptr<Table<int64_t>> inner_;
  const Arena* device_;
};

constexpr int64_t kDim = 3;

class DeviceRowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TableOptions opt;
    opt.dim = kDim;
    opt.value_type = ValueType::kFloat32;
    std::unique_ptr<TableBase> base;
    ASSERT_TRUE(TableFactory::Create("cpu", KeyKind::kInt64, opt, &base).ok());
    table_ = std::make_unique<FakeDeviceTable>(
        std::unique_ptr<Table<int64_t>>(
            static_cast<Table<int64_t>*>(base.release())),
        &device_);
    exec_.allocator = &device_;
    exec_.host_allocator = &pinned_;
    exec_.to_host = [this](void* dst, const void* src, size_t bytes) {
      ++copies_;
      if (bytes && (!device_.owns(src, bytes) || device_.owns(dst, bytes))) {
        return Status(Code::kInternal, "to_host: wrong direction");
      }
      if (bytes) std::memcpy(dst, src, bytes);
      return Status::OK();
    };
    exec_.from_host = [this](void* dst, const void* src, size_t bytes) {
      ++copies_;
      if (bytes && (!device_.owns(dst, bytes) || device_.owns(src, bytes))) {
        return Status(Code::kInternal, "from_host: wrong direction");
      }
      if (bytes) std::memcpy(dst, src, bytes);
      return Status::OK();
    };
  }

  // Rows keyed 0..n-1 (times 7), value k + j / 10, written on the host side.
  void Fill(int64_t n) {
    std::vector<int64_t> keys(n);
    std::vector<float> values(n * kDim);
    for (int64_t i = 0; i < n; ++i) {
      keys[i] = i * 7;
      for (int64_t j = 0; j < kDim; ++j) values[i * kDim + j] = i + j / 10.0f;
    }
    ASSERT_TRUE(table_->host()->insert_or_assign(
        host_exec_, keys.data(), n, reinterpret_cast<char*>(values.data())).ok());
  }

  Arena device_, pinned_;
  ExecContext exec_, host_exec_;
  int copies_ = 0;
  std::unique_ptr<FakeDeviceTable> table_;
};

TEST_F(DeviceRowsTest, StreamsEveryRowOnceThroughHostPages) {
  Fill(1000);
  std::map<int64_t, std::vector<float>> seen;
  int chunks = 0;
  const Status s = ForEachStagedRow<int64_t>(
      exec_, *table_, /*gather=*/false, nullptr,
      [&](const int64_t* k, const char* v, const RowMeta* m, size_t n) {
        ++chunks;
        EXPECT_FALSE(device_.owns(k, n * sizeof(int64_t)));
        EXPECT_TRUE(pinned_.owns(k, n * sizeof(int64_t)));
        const float* f = reinterpret_cast<const float*>(v);
        for (size_t i = 0; i < n; ++i) {
          EXPECT_EQ(m[i].version, 0u);
          EXPECT_TRUE(seen.emplace(k[i], std::vector<float>(
                                              f + i * kDim, f + (i + 1) * kDim))
                          .second)
              << "key " << k[i] << " handed on twice";
        }
        return Status::OK();
      },
      /*page_rows=*/64);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_GE(chunks, 1000 / 64);
  ASSERT_EQ(seen.size(), 1000u);
  for (const auto& [key, row] : seen) {
    const int64_t i = key / 7;
    EXPECT_EQ(key % 7, 0);
    EXPECT_EQ(row, (std::vector<float>{i + 0.0f, i + 0.1f, i + 0.2f}));
  }
  EXPECT_EQ(device_.live(), 0u);
  EXPECT_EQ(pinned_.live(), 0u);
}

TEST_F(DeviceRowsTest, GatherCallsOnTotalBeforeOneChunk) {
  Fill(300);
  size_t total = 0;
  int chunks = 0;
  const Status s = ForEachStagedRow<int64_t>(
      exec_, *table_, /*gather=*/true,
      [&](size_t n) {
        EXPECT_EQ(chunks, 0);
        total = n;
        return Status::OK();
      },
      [&](const int64_t*, const char*, const RowMeta*, size_t n) {
        ++chunks;
        EXPECT_EQ(n, total);
        return Status::OK();
      },
      /*page_rows=*/32);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(total, 300u);
  EXPECT_EQ(chunks, 1);
}

TEST_F(DeviceRowsTest, AnEmptyTableHandsOnNothing) {
  int chunks = 0;
  ASSERT_TRUE(ForEachStagedRow<int64_t>(
                  exec_, *table_, false, nullptr,
                  [&](const int64_t*, const char*, const RowMeta*, size_t) {
                    ++chunks;
                    return Status::OK();
                  })
                  .ok());
  EXPECT_EQ(chunks, 0);
}

TEST_F(DeviceRowsTest, ACallbackErrorStopsTheScan) {
  Fill(200);
  int chunks = 0;
  const Status s = ForEachStagedRow<int64_t>(
      exec_, *table_, false, nullptr,
      [&](const int64_t*, const char*, const RowMeta*, size_t) {
        ++chunks;
        return Status(Code::kDataLoss, "disk full");
      },
      16);
  EXPECT_EQ(s.code(), Code::kDataLoss);
  EXPECT_EQ(chunks, 1);
  EXPECT_EQ(device_.live(), 0u);
}

TEST_F(DeviceRowsTest, NoCopyFunctionsIsUnimplementedNamingTheBackend) {
  ExecContext bare;
  bare.allocator = &device_;
  const Status s = ForEachStagedRow<int64_t>(
      bare, *table_, false, nullptr,
      [](const int64_t*, const char*, const RowMeta*, size_t) {
        return Status::OK();
      });
  EXPECT_EQ(s.code(), Code::kUnimplemented);
  EXPECT_NE(s.message().find("'fakegpu'"), std::string::npos) << s.message();
  const int64_t key = 1;
  const float row[kDim] = {1, 2, 3};
  const Status w = InsertStagedRows<int64_t>(
      bare, table_.get(), &key, 1, reinterpret_cast<const char*>(row));
  EXPECT_EQ(w.code(), Code::kUnimplemented);
  EXPECT_EQ(table_->inserts, 0);
}

TEST_F(DeviceRowsTest, InsertStagesHostRowsIntoDeviceScratch) {
  const std::vector<int64_t> keys = {5, -9, 5, 1LL << 40};
  const std::vector<float> values = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4};
  const Status s = InsertStagedRows<int64_t>(
      exec_, table_.get(), keys.data(), keys.size(),
      reinterpret_cast<const char*>(values.data()));
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(table_->inserts, 1);
  EXPECT_EQ(device_.live(), 0u);
  std::vector<float> got(3 * kDim);
  const std::vector<int64_t> probe = {5, -9, 1LL << 40};
  const float dflt[kDim] = {0, 0, 0};
  ASSERT_TRUE(table_->host()
                  ->find(host_exec_, probe.data(), 3,
                         reinterpret_cast<char*>(got.data()),
                         reinterpret_cast<const char*>(dflt), false, nullptr)
                  .ok());
  // The last duplicate of key 5 wins, as in any insert.
  EXPECT_EQ(got, (std::vector<float>{3, 3, 3, 2, 2, 2, 4, 4, 4}));
}

TEST_F(DeviceRowsTest, AHostTableIsWrittenDirectly) {
  const int64_t key = 3;
  const float row[kDim] = {7, 8, 9};
  ASSERT_TRUE(InsertStagedRows<int64_t>(host_exec_, table_->host(), &key, 1,
                                        reinterpret_cast<const char*>(row))
                  .ok());
  EXPECT_EQ(table_->host()->size(host_exec_), 1);
  EXPECT_EQ(copies_, 0);
}

}  // namespace
}  // namespace core
}  // namespace tfra

// Host staging for backends whose rows live in device memory (memory_space()
// kDevice): whole-table reads (save, export pages) and host-side writes (file
// loads) go through the copy functions and allocators of the ExecContext
// (cc/core/table.h) that a device kernel fills in. TF-free, so the staging
// logic is tested on the host with a fake device (tests/device_rows_test.cc).
//
// Memory: one page of device scratch (exec.allocator) and one page of
// pinned host staging (exec.host_allocator, heap when null) for a read; the
// rows of one call for a write.
#ifndef TFRA_CC_CORE_DEVICE_ROWS_H_
#define TFRA_CC_CORE_DEVICE_ROWS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "cc/core/row_meta.h"
#include "cc/core/status.h"
#include "cc/core/table.h"

namespace tfra {
namespace core {

// Memory from an Allocator, returned when it goes out of scope (heap memory
// when the allocator is null). get() is null if the allocator failed.
class ScopedBuffer {
 public:
  ScopedBuffer(Allocator* a, size_t bytes) : a_(a) {
    const size_t n = std::max<size_t>(bytes, 1);
    if (a == nullptr) {
      heap_.resize(n);
      p_ = heap_.data();
    } else {
      p_ = static_cast<char*>(a->allocate(n, 64));
    }
  }
  ~ScopedBuffer() {
    if (a_ != nullptr && p_ != nullptr) a_->deallocate(p_);
  }
  ScopedBuffer(const ScopedBuffer&) = delete;
  ScopedBuffer& operator=(const ScopedBuffer&) = delete;
  char* get() const { return p_; }

 private:
  Allocator* a_;
  std::vector<char> heap_;
  char* p_ = nullptr;
};

constexpr size_t kStagingPageRows = 65536;

template <typename K>
using StagedChunkFn = std::function<Status(const K* keys, const char* values,
                                           const RowMeta* metas, size_t count)>;

// Every row of a device table, read with export_batch one page at a time:
// the page lands in device scratch, is copied to host staging
// (exec.to_host, which returns once the copy is done) and handed to
// on_chunk from there (gather false), or gathered on the host and handed on
// as one chunk after on_total(n) (gather true: a point in time only if
// writers are quiet). Bookkeeping columns read as zero.
template <typename K>
Status ForEachStagedRow(const ExecContext& exec, const Table<K>& t, bool gather,
                        const std::function<Status(size_t)>& on_total,
                        const StagedChunkFn<K>& on_chunk,
                        size_t page_rows = kStagingPageRows) {
  if (!std::is_integral<K>::value) {
    return Status(Code::kUnimplemented,
                  "export: device backends take integer keys only");
  }
  if (!exec.to_host || exec.allocator == nullptr) {
    return Status(Code::kUnimplemented,
                  std::string("export: the '") + t.backend() +
                      "' backend keeps rows in device memory and this kernel "
                      "cannot stage them to the host");
  }
  const size_t row_bytes = t.row_bytes();
  ScopedBuffer dev_keys(exec.allocator, page_rows * sizeof(K));
  ScopedBuffer dev_values(exec.allocator, page_rows * row_bytes);
  ScopedBuffer host_keys(exec.host_allocator, page_rows * sizeof(K));
  ScopedBuffer host_values(exec.host_allocator, page_rows * row_bytes);
  if (dev_keys.get() == nullptr || dev_values.get() == nullptr ||
      host_keys.get() == nullptr || host_values.get() == nullptr) {
    return Status(Code::kResourceExhausted,
                  "export: no memory for a " + std::to_string(page_rows) +
                      "-row staging page");
  }
  std::vector<K> keys;
  std::vector<char> values;
  const std::vector<RowMeta> zero_metas(gather ? 0 : page_rows);
  uint64_t cursor = 0;
  do {
    size_t count = 0;
    TFRA_CORE_RETURN_IF_ERROR(t.export_batch(
        exec, cursor, page_rows, reinterpret_cast<K*>(dev_keys.get()),
        dev_values.get(), nullptr, &count, &cursor));
    TFRA_CORE_RETURN_IF_ERROR(
        exec.to_host(host_keys.get(), dev_keys.get(), count * sizeof(K)));
    TFRA_CORE_RETURN_IF_ERROR(
        exec.to_host(host_values.get(), dev_values.get(), count * row_bytes));
    const K* hk = reinterpret_cast<const K*>(host_keys.get());
    if (gather) {
      keys.insert(keys.end(), hk, hk + count);
      values.insert(values.end(), host_values.get(),
                    host_values.get() + count * row_bytes);
    } else if (count > 0) {
      TFRA_CORE_RETURN_IF_ERROR(
          on_chunk(hk, host_values.get(), zero_metas.data(), count));
    }
  } while (cursor != 0);
  if (!gather) return Status::OK();
  TFRA_CORE_RETURN_IF_ERROR(on_total(keys.size()));
  const std::vector<RowMeta> metas(keys.size());
  return on_chunk(keys.data(), values.data(), metas.data(), keys.size());
}

// Insert-or-assign of n rows held in host memory into a table of any memory
// space: a device table gets them copied into device scratch first
// (exec.from_host). The scratch goes back to the allocator once the insert
// is enqueued: a device allocator only hands it to later work on the same
// stream, which runs after the insert.
template <typename K>
Status InsertStagedRows(const ExecContext& exec, Table<K>* t,
                        const KeyArg<K>* keys, size_t n, const char* values) {
  if (t->memory_space() == MemorySpace::kHost) {
    return t->insert_or_assign(exec, keys, n, values);
  }
  if (!std::is_integral<K>::value) {
    return Status(Code::kUnimplemented,
                  "load: device backends take integer keys only");
  }
  if (!exec.from_host || exec.allocator == nullptr) {
    return Status(Code::kUnimplemented,
                  std::string("load: the '") + t->backend() +
                      "' backend keeps rows in device memory and this kernel "
                      "cannot stage rows to it");
  }
  if (n == 0) return Status::OK();
  const size_t row_bytes = t->row_bytes();
  ScopedBuffer dev_keys(exec.allocator, n * sizeof(KeyArg<K>));
  ScopedBuffer dev_values(exec.allocator, n * row_bytes);
  if (dev_keys.get() == nullptr || dev_values.get() == nullptr) {
    return Status(Code::kResourceExhausted,
                  "load: no device memory for " + std::to_string(n) +
                      " staged rows");
  }
  TFRA_CORE_RETURN_IF_ERROR(
      exec.from_host(dev_keys.get(), keys, n * sizeof(KeyArg<K>)));
  TFRA_CORE_RETURN_IF_ERROR(
      exec.from_host(dev_values.get(), values, n * row_bytes));
  return t->insert_or_assign(
      exec, reinterpret_cast<const KeyArg<K>*>(dev_keys.get()), n,
      dev_values.get());
}

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_DEVICE_ROWS_H_

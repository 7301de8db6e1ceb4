// Writing table rows into an export op's outputs, shared by the Export and
// ExportWithMeta kernels. A backend with the Snapshots capability exports a
// point in time: rows go straight from its snapshot into the output
// tensors, allocated once the snapshot's row count is known. Any other
// backend is read page by page with export_batch (ForEachRow, also used by
// the export-delta and save kernels), then the outputs are filled.
#ifndef TFRA_CC_KERNELS_ROW_OUTPUTS_H_
#define TFRA_CC_KERNELS_ROW_OUTPUTS_H_

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

#include "cc/core/device_rows.h"
#include "cc/core/row_meta.h"
#include "cc/kernels/table_resource.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace tensorflow {
namespace tfra_ops {

// The row outputs of an export: keys [n], values [n, dim], then
// `num_columns` int64 [n] columns (version, freq, score: the first
// `num_columns` of them), and the table clock as the last output. Rows are
// written in place, chunk after chunk, once Allocate(n) has run.
template <typename TK>
class RowOutputs {
 public:
  RowOutputs(OpKernelContext* ctx, TableResource* table, int num_columns)
      : ctx_(ctx), table_(table), num_columns_(num_columns),
        row_bytes_(table->base()->row_bytes()) {}

  // The op's Tvalues attr does not pick the kernel (keys do): a value dtype
  // other than the table's would give the values output the wrong width.
  absl::Status CheckValueDtype() const {
    if (ctx_->expected_output_dtype(1) == table_->value_dtype()) {
      return absl::OkStatus();
    }
    return errors::InvalidArgument(
        "Tvalues: dtype ", DataTypeString(ctx_->expected_output_dtype(1)),
        " does not match the table's value dtype ",
        DataTypeString(table_->value_dtype()));
  }

  absl::Status Allocate(int64_t n) {
    TF_RETURN_IF_ERROR(ctx_->allocate_output(0, TensorShape({n}), &keys_));
    TF_RETURN_IF_ERROR(ctx_->allocate_output(
        1, TensorShape({n, table_->dim()}), &values_));
    columns_.resize(num_columns_);
    for (int c = 0; c < num_columns_; ++c) {
      TF_RETURN_IF_ERROR(
          ctx_->allocate_output(2 + c, TensorShape({n}), &columns_[c]));
    }
    return absl::OkStatus();
  }

  // Rows k[i], v[i * row_bytes], m[i] (m null: zero bookkeeping).
  void Write(const KeyStorage<TK>* k, const char* v, const ::tfra::core::RowMeta* m,
             size_t count) {
    CopyKeys<TK>(k, count, keys_->flat<TK>().data() + done_);
    std::memcpy(const_cast<char*>(values_->tensor_data().data()) +
                    done_ * row_bytes_,
                v, count * row_bytes_);
    for (int c = 0; c < num_columns_; ++c) {
      int64_t* out = columns_[c]->flat<int64_t>().data() + done_;
      for (size_t i = 0; i < count; ++i) {
        out[i] = m == nullptr ? 0
                 : c == 0     ? static_cast<int64_t>(m[i].version)
                 : c == 1     ? static_cast<int64_t>(m[i].freq)
                              : m[i].score;
      }
    }
    done_ += count;
  }

  absl::Status Finish() {
    Tensor* clock;
    TF_RETURN_IF_ERROR(
        ctx_->allocate_output(2 + num_columns_, TensorShape({}), &clock));
    const CoreBounded<TK>* bounded =
        static_cast<const CoreTable<TK>*>(table_->typed<TK>())->as_bounded();
    clock->scalar<int64_t>()() =
        bounded == nullptr ? 0 : static_cast<int64_t>(bounded->clock());
    return absl::OkStatus();
  }

 private:
  OpKernelContext* ctx_;
  TableResource* table_;
  int num_columns_;
  size_t row_bytes_;
  Tensor* keys_ = nullptr;
  Tensor* values_ = nullptr;
  std::vector<Tensor*> columns_;
  size_t done_ = 0;
};

// How ForEachRow reads a table.
enum class RowScan {
  // One point in time: on_total(n), then chunks covering exactly n rows.
  kPointInTime,
  // Piece by piece (each piece consistent, the whole not a point in time);
  // on_total is not called. Memory stays at one piece.
  kStream,
};

template <typename TK>
using RowChunkFn = std::function<::tfra::core::Status(
    const KeyStorage<TK>* keys, const char* values,
    const ::tfra::core::RowMeta* metas, size_t count)>;

// Hands every row of `table` to on_chunk, whatever the backend offers. With
// the Snapshots capability: export_snapshot (kPointInTime) or stream_rows
// (kStream). Without it, rows are read with export_batch in pages of 65,536:
// kStream hands each page on as it is read; kPointInTime gathers the pages
// first (the row count must precede the rows) and hands them on as one
// chunk, so it is a point in time only if writers are quiet. A backend
// in device memory is staged through pinned host pages
// (ForEachStagedRow, cc/core/device_rows.h).
template <typename TK>
absl::Status ForEachRow(const ::tfra::core::ExecContext& exec,
                        TableResource* table, RowScan scan,
                        const std::function<::tfra::core::Status(size_t)>& on_total,
                        const RowChunkFn<TK>& on_chunk) {
  const CoreTable<TK>* t = table->typed<TK>();
  if (const auto* snapshots = t->as_snapshots()) {
    return ToTfStatus(scan == RowScan::kPointInTime
                          ? snapshots->export_snapshot(on_total, on_chunk)
                          : snapshots->stream_rows(on_chunk));
  }
  if (t->memory_space() != ::tfra::core::MemorySpace::kHost) {
    return ToTfStatus(::tfra::core::ForEachStagedRow<KeyStorage<TK>>(
        exec, *t, scan == RowScan::kPointInTime, on_total, on_chunk));
  }
  const size_t row_bytes = t->row_bytes();
  const bool gather = scan == RowScan::kPointInTime;
  constexpr size_t kPage = 65536;
  // gather: rows accumulate (page after page); stream: one page, reused.
  std::vector<KeyStorage<TK>> keys;
  std::vector<char> values;
  std::vector<::tfra::core::RowMeta> metas;
  uint64_t cursor = 0;
  do {
    const size_t done = gather ? keys.size() : 0;
    keys.resize(done + kPage);
    values.resize((done + kPage) * row_bytes);
    metas.resize(done + kPage);
    size_t count = 0;
    TF_RETURN_IF_ERROR(ToTfStatus(t->export_batch(
        exec, cursor, kPage, keys.data() + done,
        values.data() + done * row_bytes, metas.data() + done, &count,
        &cursor)));
    keys.resize(done + count);
    values.resize((done + count) * row_bytes);
    metas.resize(done + count);
    if (!gather && count > 0) {
      TF_RETURN_IF_ERROR(ToTfStatus(
          on_chunk(keys.data(), values.data(), metas.data(), count)));
    }
  } while (cursor != 0);
  if (gather) {
    TF_RETURN_IF_ERROR(ToTfStatus(on_total(keys.size())));
    TF_RETURN_IF_ERROR(ToTfStatus(
        on_chunk(keys.data(), values.data(), metas.data(), keys.size())));
  }
  return absl::OkStatus();
}

// Exports every row (one point in time) into `out`'s outputs
// 0 .. 1 + num_columns (the caller may then Finish).
template <typename TK>
absl::Status ExportAllRows(const ::tfra::core::ExecContext& exec,
                           TableResource* table, RowOutputs<TK>* out) {
  TF_RETURN_IF_ERROR(out->CheckValueDtype());
  absl::Status alloc;
  TF_RETURN_IF_ERROR(ForEachRow<TK>(
      exec, table, RowScan::kPointInTime,
      [&](size_t total) {
        alloc = out->Allocate(static_cast<int64_t>(total));
        return alloc.ok() ? ::tfra::core::Status::OK()
                          : ::tfra::core::ResourceExhausted(
                                "export: cannot allocate outputs");
      },
      [&](const KeyStorage<TK>* k, const char* v,
          const ::tfra::core::RowMeta* m, size_t count) {
        out->Write(k, v, m, count);
        return ::tfra::core::Status::OK();
      }));
  return alloc;
}

// Export of a device backend (rows in device memory): pages of export_batch
// straight into device temporaries sized for the row count plus one page
// of slack, then the outputs are views of the filled part (no copy). A page
// scans max(65,536, n / 8) slots, so a table at any load takes a few dozen
// pages. Rows written during the export may or may not appear; the outputs
// never overflow (the pass stops once the slack could be exceeded).
template <typename TK>
absl::Status ExportDeviceRows(OpKernelContext* ctx,
                              const ::tfra::core::ExecContext& exec,
                              TableResource* table) {
  if (ctx->expected_output_dtype(1) != table->value_dtype()) {
    return errors::InvalidArgument(
        "Tvalues: dtype ", DataTypeString(ctx->expected_output_dtype(1)),
        " does not match the table's value dtype ",
        DataTypeString(table->value_dtype()));
  }
  const CoreTable<TK>* t = table->typed<TK>();
  const int64_t n = t->size(exec);
  if (n < 0) {
    return errors::Internal("export: the '", t->backend(),
                            "' backend could not read its row count");
  }
  const int64_t page = std::max<int64_t>(65536, n / 8);
  Tensor keys, values;
  TF_RETURN_IF_ERROR(ctx->allocate_temp(DataTypeToEnum<TK>::value,
                                        TensorShape({n + page}), &keys));
  TF_RETURN_IF_ERROR(ctx->allocate_temp(
      table->value_dtype(), TensorShape({n + page, table->dim()}), &values));
  const size_t row_bytes = t->row_bytes();
  char* value_base = const_cast<char*>(values.tensor_data().data());
  int64_t done = 0;
  uint64_t cursor = 0;
  do {
    size_t count = 0;
    TF_RETURN_IF_ERROR(ToTfStatus(t->export_batch(
        exec, cursor, static_cast<size_t>(page),
        keys.flat<TK>().data() + done, value_base + done * row_bytes, nullptr,
        &count, &cursor)));
    done += static_cast<int64_t>(count);
  } while (cursor != 0 && done <= n);
  ctx->set_output(0, keys.Slice(0, done));
  ctx->set_output(1, values.Slice(0, done));
  return absl::OkStatus();
}

}  // namespace tfra_ops
}  // namespace tensorflow

#endif  // TFRA_CC_KERNELS_ROW_OUTPUTS_H_

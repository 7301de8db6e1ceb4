// Writing table rows into an export op's outputs, shared by the Export and
// ExportWithMeta kernels. A backend with the Snapshots capability exports a
// point in time: rows go straight from its snapshot into the output
// tensors, allocated once the snapshot's row count is known. Any other
// backend is read page by page with export_batch (host memory; a device
// backend brings its own paged copy), then the outputs are filled.
#ifndef TFRA_CC_KERNELS_ROW_OUTPUTS_H_
#define TFRA_CC_KERNELS_ROW_OUTPUTS_H_

#include <cstring>
#include <vector>

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

// Rows of a table without snapshots, read by export_batch pages.
template <typename TK>
struct PagedRows {
  std::vector<KeyStorage<TK>> keys;
  std::vector<char> values;
  std::vector<::tfra::core::RowMeta> metas;
};

// Reads every row with export_batch, in pages of up to 65,536 rows.
template <typename TK>
absl::Status ReadPages(const ::tfra::core::ExecContext& exec,
                       TableResource* table, PagedRows<TK>* rows) {
  const CoreTable<TK>* t = table->typed<TK>();
  if (t->memory_space() != ::tfra::core::MemorySpace::kHost) {
    return errors::Unimplemented("export: the '", t->backend(),
                                 "' backend keeps rows in device memory and "
                                 "has no host export");
  }
  const size_t row_bytes = t->row_bytes();
  constexpr size_t kPage = 65536;
  uint64_t cursor = 0;
  do {
    const size_t done = rows->keys.size();
    rows->keys.resize(done + kPage);
    rows->values.resize((done + kPage) * row_bytes);
    rows->metas.resize(done + kPage);
    size_t count = 0;
    TF_RETURN_IF_ERROR(ToTfStatus(t->export_batch(
        exec, cursor, kPage, rows->keys.data() + done,
        rows->values.data() + done * row_bytes, rows->metas.data() + done,
        &count, &cursor)));
    rows->keys.resize(done + count);
    rows->values.resize((done + count) * row_bytes);
    rows->metas.resize(done + count);
  } while (cursor != 0);
  return absl::OkStatus();
}

// Exports every row into `out`'s outputs 0 .. 1 + num_columns (the caller
// may then Finish).
template <typename TK>
absl::Status ExportAllRows(const ::tfra::core::ExecContext& exec,
                           TableResource* table, RowOutputs<TK>* out) {
  TF_RETURN_IF_ERROR(out->CheckValueDtype());
  const auto* snapshots =
      static_cast<const CoreTable<TK>*>(table->typed<TK>())->as_snapshots();
  if (snapshots == nullptr) {
    PagedRows<TK> rows;
    TF_RETURN_IF_ERROR(ReadPages<TK>(exec, table, &rows));
    TF_RETURN_IF_ERROR(out->Allocate(static_cast<int64_t>(rows.keys.size())));
    out->Write(rows.keys.data(), rows.values.data(), rows.metas.data(),
               rows.keys.size());
    return absl::OkStatus();
  }
  absl::Status alloc;
  TF_RETURN_IF_ERROR(ToTfStatus(snapshots->export_snapshot(
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
      })));
  return alloc;
}

}  // namespace tfra_ops
}  // namespace tensorflow

#endif  // TFRA_CC_KERNELS_ROW_OUTPUTS_H_

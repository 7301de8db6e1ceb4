// Writing table rows into an export op's outputs, shared by the Export and
// ExportWithMeta kernels: rows go straight from the table's snapshot into
// the output tensors, allocated once the snapshot's row count is known.
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
    clock->scalar<int64_t>()() =
        static_cast<int64_t>(table_->typed<TK>()->clock());
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

// Exports every row into `out`'s outputs 0 .. 1 + num_columns, written
// straight from the table's snapshot (the caller may then Finish).
template <typename TK>
absl::Status ExportAllRows(TableResource* table, RowOutputs<TK>* out) {
  TF_RETURN_IF_ERROR(out->CheckValueDtype());
  absl::Status alloc;
  TF_RETURN_IF_ERROR(ToTfStatus(table->typed<TK>()->export_with_meta(
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

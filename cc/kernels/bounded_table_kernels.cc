// OpKernels of the bounded-table ops (ops/bounded_table_ops.cc): moving each
// row's bookkeeping (RowMeta) and the admission sketch in and out of a
// table, for checkpoints and for delta export.
#include <cstring>
#include <vector>

#include "cc/core/row_meta.h"
#include "cc/kernels/row_outputs.h"
#include "cc/kernels/table_resource.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"

namespace tensorflow {
namespace tfra_ops {
namespace {

namespace tc = ::tfra::core;

// Exports every row, or the rows selected by `keep(meta)` (collected first,
// since their count is known only at the end), then the clock.
template <typename TK>
absl::Status ExportRows(OpKernelContext* ctx, const tc::ExecContext& exec,
                        TableResource* table, int num_columns,
                        const std::function<bool(const tc::RowMeta&)>& keep) {
  RowOutputs<TK> out(ctx, table, num_columns);
  if (!keep) {
    TF_RETURN_IF_ERROR(ExportAllRows<TK>(exec, table, &out));
    return out.Finish();
  }
  TF_RETURN_IF_ERROR(out.CheckValueDtype());
  const size_t row_bytes = table->base()->row_bytes();
  std::vector<KeyStorage<TK>> keys;
  std::vector<char> values;
  std::vector<tc::RowMeta> metas;
  auto select = [&](const KeyStorage<TK>* k, const char* v,
                    const tc::RowMeta* m, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      const tc::RowMeta meta = m != nullptr ? m[i] : tc::RowMeta{0, 0, 0, 0};
      if (!keep(meta)) continue;
      keys.push_back(k[i]);
      values.insert(values.end(), v + i * row_bytes, v + (i + 1) * row_bytes);
      metas.push_back(meta);
    }
    return tc::Status::OK();
  };
  TF_RETURN_IF_ERROR(ForEachRow<TK>(
      exec, table, RowScan::kPointInTime,
      [](size_t) { return tc::Status::OK(); }, select));
  TF_RETURN_IF_ERROR(out.Allocate(static_cast<int64_t>(keys.size())));
  out.Write(keys.data(), values.data(), metas.data(), keys.size());
  return out.Finish();
}

template <typename Device, typename TK>
class ExportWithMetaOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DataTypeToEnum<TK>::value, &table));
    const KernelExec<Device> exec(ctx);
    OP_REQUIRES_OK(ctx, ExportRows<TK>(ctx, exec.get(), table.get(), 3, nullptr));
  }
};

template <typename Device, typename TK>
class ExportDeltaOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DataTypeToEnum<TK>::value, &table));
    CoreBounded<TK>* bounded = nullptr;
    OP_REQUIRES_OK(ctx, BoundedOf<TK>(table.get(), "export_delta", &bounded));
    const KernelExec<Device> exec(ctx);
    OP_REQUIRES(ctx, table->base()->size(exec.get()) == 0 ||
                         bounded->bounds().tracking(),
                errors::FailedPrecondition(
                    "export_delta: the table does not track changes; create "
                    "it with track_changes=True (or a capacity, TTL or "
                    "admission)"));
    OP_REQUIRES_OK(ctx, CheckShape("since", ctx->input(1), TensorShape({}),
                                   "a scalar clock"));
    const uint64_t since =
        static_cast<uint64_t>(std::max<int64_t>(ctx->input(1).scalar<int64_t>()(), 0));
    OP_REQUIRES_OK(ctx, ExportRows<TK>(ctx, exec.get(), table.get(), 1,
                                       [since](const tc::RowMeta& m) {
                                         return m.version > since;
                                       }));
  }
};

template <typename Device, typename TK>
class ImportWithMetaOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DataTypeToEnum<TK>::value, 2,
                                           "values", &table));
    CoreBounded<TK>* bounded = nullptr;
    OP_REQUIRES_OK(ctx, BoundedOf<TK>(table.get(), "import_with_meta", &bounded));
    const Tensor& keys = ctx->input(1);
    OP_REQUIRES_OK(ctx, CheckShape("values", ctx->input(2),
                                   ValueShapeFor(keys, table->dim()),
                                   "keys.shape + [dim]"));
    const char* names[] = {"versions", "freqs", "scores"};
    for (int c = 0; c < 3; ++c) {
      OP_REQUIRES_OK(ctx, CheckShape(names[c], ctx->input(3 + c), keys.shape(),
                                     "keys.shape"));
    }
    OP_REQUIRES_OK(ctx, CheckShape("clock", ctx->input(6), TensorShape({}),
                                   "a scalar"));
    const int64_t n = keys.NumElements();
    auto versions = ctx->input(3).flat<int64_t>();
    auto freqs = ctx->input(4).flat<int64_t>();
    auto scores = ctx->input(5).flat<int64_t>();
    std::vector<tc::RowMeta> metas(n);
    for (int64_t i = 0; i < n; ++i) {
      metas[i] = tc::RowMeta{static_cast<uint64_t>(std::max<int64_t>(versions(i), 0)),
                             scores(i),
                             static_cast<uint32_t>(std::min<int64_t>(
                                 std::max<int64_t>(freqs(i), 0), UINT32_MAX)),
                             0};
    }
    const KeyArgs<TK> args(keys);
    const KernelExec<Device> exec(ctx);
    OP_REQUIRES_OK(ctx, ToTfStatus(bounded->import_with_meta(
                            exec.get(), args.data(), n,
                            ctx->input(2).tensor_data().data(), metas.data())));
    bounded->set_clock(static_cast<uint64_t>(
        std::max<int64_t>(ctx->input(6).scalar<int64_t>()(), 0)));
  }
};

// A backend without the sketch capability exports an empty [4, 0] sketch
// (what a table without admission exports) and refuses a non-empty import.
template <typename Device>
class ExportSketchOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DT_INVALID, &table));
    std::vector<int32_t> sums;
    size_t width = 0;
    tc::AdmissionSketch* sketch = table->base()->as_sketch();
    if (sketch != nullptr) {
      OP_REQUIRES_OK(ctx, ToTfStatus(sketch->export_sketch(&sums, &width)));
    }
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            0, TensorShape({tc::CountMinSketch::kDepth,
                                            static_cast<int64_t>(width)}),
                            &out));
    std::copy(sums.begin(), sums.end(), out->flat<int32_t>().data());
  }
};

template <typename Device>
class ImportSketchOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    core::RefCountPtr<TableResource> table;
    OP_REQUIRES_OK(ctx, GetTableOn<Device>(ctx, DT_INVALID, &table));
    const Tensor& sketch = ctx->input(1);
    OP_REQUIRES(ctx, sketch.dims() == 2 &&
                         sketch.dim_size(0) == tc::CountMinSketch::kDepth,
                errors::InvalidArgument("sketch: must be [4, width], got ",
                                        sketch.shape().DebugString()));
    if (sketch.dim_size(1) == 0) return;  // saved without admission
    tc::AdmissionSketch* target = table->base()->as_sketch();
    OP_REQUIRES(ctx, target != nullptr,
                ToTfStatus(tc::MissingCapability(*table->base(),
                                                 "admission sketch")));
    OP_REQUIRES_OK(ctx, ToTfStatus(target->import_sketch(
                            sketch.flat<int32_t>().data(),
                            static_cast<size_t>(sketch.dim_size(1)))));
  }
};

REGISTER_KERNEL_BUILDER(Name("TFRA>HashTableExportSketch").Device(DEVICE_CPU),
                        ExportSketchOp<CPUDevice>);
REGISTER_KERNEL_BUILDER(Name("TFRA>HashTableImportSketch").Device(DEVICE_CPU),
                        ImportSketchOp<CPUDevice>);

#define TFRA_REGISTER_BOUNDED(K, V)                                            \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableExportWithMeta", "Tkeys", "Tvalues",  \
                          K, V, ExportWithMetaOp<CPUDevice, K>)                \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableExportDelta", "Tkeys", "Tvalues", K,  \
                          V, ExportDeltaOp<CPUDevice, K>)                      \
  TFRA_REGISTER_KV_KERNEL("TFRA>HashTableImportWithMeta", "Tin", "Tout", K, V, \
                          ImportWithMetaOp<CPUDevice, K>)

TFRA_FOR_EACH_KEY_VALUE_TYPE(TFRA_REGISTER_BOUNDED)
#undef TFRA_REGISTER_BOUNDED

}  // namespace
}  // namespace tfra_ops
}  // namespace tensorflow

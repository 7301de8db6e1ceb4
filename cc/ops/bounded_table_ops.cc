// Op registrations for bounded tables (row_meta.h): bookkeeping export and
// import for checkpoints, delta export, and the admission sketch.
#include "cc/ops/op_types.h"
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace tfra_ops {
namespace {

using shape_inference::InferenceContext;


// keys [n], values [n, dim], then `extra` further [n] vectors, then a scalar.
absl::Status RowsWithColumns(InferenceContext* c, int extra) {
  const auto n = InferenceContext::kUnknownDim;
  c->set_output(0, c->Vector(n));
  c->set_output(1, c->Matrix(n, n));
  for (int i = 0; i < extra; ++i) c->set_output(2 + i, c->Vector(n));
  c->set_output(2 + extra, c->Scalar());
  return absl::OkStatus();
}

}  // namespace

// Every row with its bookkeeping: the clock of its last write (version),
// its write count (freq) and its custom score; and the table clock. A plain
// table gives zeros.
REGISTER_OP("TFRA>HashTableExportWithMeta")
    .Input("table_handle: resource")
    .Output("keys: Tkeys")
    .Output("values: Tvalues")
    .Output("versions: int64")
    .Output("freqs: int64")
    .Output("scores: int64")
    .Output("clock: int64")
    .Attr("Tkeys: " TFRA_KEY_TYPES)
    .Attr("Tvalues: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) { return RowsWithColumns(c, 3); });

// Replaces the content with rows and their bookkeeping, and sets the clock.
REGISTER_OP("TFRA>HashTableImportWithMeta")
    .Input("table_handle: resource")
    .Input("keys: Tin")
    .Input("values: Tout")
    .Input("versions: int64")
    .Input("freqs: int64")
    .Input("scores: int64")
    .Input("clock: int64")
    .Attr("Tin: " TFRA_KEY_TYPES)
    .Attr("Tout: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs);

// The rows written after clock `since` (version > since), and the clock.
REGISTER_OP("TFRA>HashTableExportDelta")
    .Input("table_handle: resource")
    .Input("since: int64")
    .Output("keys: Tkeys")
    .Output("values: Tvalues")
    .Output("versions: int64")
    .Output("clock: int64")
    .Attr("Tkeys: " TFRA_KEY_TYPES)
    .Attr("Tvalues: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) { return RowsWithColumns(c, 1); });

// The admission sketch, [4, width] counts summed over shards ([4, 0] when
// the table has no admission).
REGISTER_OP("TFRA>HashTableExportSketch")
    .Input("table_handle: resource")
    .Output("sketch: int32")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->Matrix(4, InferenceContext::kUnknownDim));
      return absl::OkStatus();
    });

REGISTER_OP("TFRA>HashTableImportSketch")
    .Input("table_handle: resource")
    .Input("sketch: int32")
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs);

}  // namespace tfra_ops
}  // namespace tensorflow

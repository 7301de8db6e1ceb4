// Op registrations of the table-file readers (cc/kernels/kv_file_kernels.cc):
// verify whole files, then stream them in chunks without a table.
#include "cc/ops/op_types.h"
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace tfra_ops {
namespace {

using shape_inference::InferenceContext;

REGISTER_OP("TFRA>KvFileVerify")
    .Input("paths: string")
    .Output("counts: int64")
    .Attr("key_dtype: " TFRA_KEY_TYPES)
    .Attr("value_dtype: " TFRA_VALUE_TYPES)
    .Attr("dim: int >= 1")
    .Attr("buffer_size: int >= 1 = 4194304")
    // Names "<stem>_<i>of<n>[_rank<r>of<p>]" must form complete sets of one
    // save each (cc/kernels/shard_sets.h); with all_ranks, of every rank.
    .Attr("complete_sets: bool = false")
    .Attr("all_ranks: bool = false")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      shape_inference::ShapeHandle paths;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 1, &paths));
      c->set_output(0, paths);
      return absl::OkStatus();
    });

REGISTER_OP("TFRA>KvFileReadRows")
    .Input("path: string")
    .Input("offset: int64")
    .Output("keys: key_dtype")
    .Output("values: value_dtype")
    .Output("next_offset: int64")
    .Output("end_offset: int64")
    .Attr("key_dtype: " TFRA_KEY_TYPES)
    .Attr("value_dtype: " TFRA_VALUE_TYPES)
    .Attr("dim: int >= 1")
    .Attr("max_rows: int >= 1")
    .Attr("buffer_size: int >= 1 = 4194304")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      shape_inference::ShapeHandle scalar;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 0, &scalar));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 0, &scalar));
      int64_t dim = 0;
      TF_RETURN_IF_ERROR(c->GetAttr("dim", &dim));
      const auto n = InferenceContext::kUnknownDim;
      c->set_output(0, c->Vector(n));
      c->set_output(1, c->Matrix(n, dim));
      c->set_output(2, c->Scalar());
      c->set_output(3, c->Scalar());
      return absl::OkStatus();
    });

// Fails with status `code` (an absl::StatusCode; 0 is OK: nothing happens)
// and `message`. Lets a graph raise a check's error with its own code
// (AbortedError, say) where a py_function would turn it into Unknown.
REGISTER_OP("TFRA>RaiseStatus")
    .Input("code: int32")
    .Input("message: string")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      shape_inference::ShapeHandle scalar;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 0, &scalar));
      return c->WithRank(c->input(1), 0, &scalar);
    });

}  // namespace
}  // namespace tfra_ops
}  // namespace tensorflow

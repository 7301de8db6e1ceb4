// Batch helpers of the lookup path: deduplication before the table is
// touched (TFRA>Unique) and the matching gradient merge (TFRA>SegmentSumRows).
//
// Device-neutral contract (what a DEVICE_GPU kernel registered under these
// names must keep, so Python never branches on the device):
//   TFRA>Unique          unique keys in first-seen order (a device kernel
//                        keeps it with a stable sort by key, the first
//                        position of each run, then a sort by that
//                        position); idx[i] = the number of keys[i]; the
//                        unique count is data-dependent, so a device kernel
//                        syncs once to size its output, as tf.unique does.
//   TFRA>SegmentSumRows  num_segments is read on the host (HostMemory on a
//                        device); every segment id is checked before any
//                        sum; float32/float64 rows are summed in position
//                        order on the CPU (bit-reproducible), a device
//                        kernel may sum in any order (results then agree to
//                        float rounding); half/bfloat16 accumulate in float
//                        and are rounded once.
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace tfra_ops {

using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

// Distinct keys in first-seen order plus, for every input position, the
// number of its key. Keys may have any shape; idx has the keys' shape.
REGISTER_OP("TFRA>Unique")
    .Input("keys: T")
    .Output("unique: T")
    .Output("idx: int32")
    .Attr("T: {int32, int64, string}")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->Vector(c->UnknownDim()));
      c->set_output(1, c->input(0));
      return absl::OkStatus();
    });

// out[s] = sum of data[i] over positions i with segment_ids[i] == s, summed
// in position order; rows of empty segments are zero. data is [n, ...],
// segment_ids [n], out [num_segments, ...].
REGISTER_OP("TFRA>SegmentSumRows")
    .Input("data: T")
    .Input("segment_ids: int32")
    .Input("num_segments: int32")
    .Output("output: T")
    .Attr("T: {float, half, bfloat16, double}")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle data, ids, unused;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &data));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 1, &ids));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 0, &unused));
      shape_inference::DimensionHandle n;
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(data, 0), c->Dim(ids, 0), &n));
      shape_inference::DimensionHandle segments;
      TF_RETURN_IF_ERROR(c->MakeDimForScalarInput(2, &segments));
      ShapeHandle rest, out;
      TF_RETURN_IF_ERROR(c->Subshape(data, 1, &rest));
      TF_RETURN_IF_ERROR(c->Concatenate(c->Vector(segments), rest, &out));
      c->set_output(0, out);
      return absl::OkStatus();
    });

}  // namespace tfra_ops
}  // namespace tensorflow

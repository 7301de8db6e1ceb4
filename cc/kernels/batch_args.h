// Input checks and output shapes shared by the CPU and GPU kernels of the
// batch ops (batch_kernels.cc, gpu_batch_kernels.cc), so both devices refuse
// the same inputs with the same messages.
#ifndef TFRA_CC_KERNELS_BATCH_ARGS_H_
#define TFRA_CC_KERNELS_BATCH_ARGS_H_

#include <cstdint>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"

namespace tensorflow {
namespace tfra_ops {

// TFRA>Unique's keys: at most 2^31 - 1 of them (idx is int32).
inline absl::Status CheckUniqueKeys(const Tensor& keys) {
  if (keys.NumElements() < (int64_t{1} << 31)) return absl::OkStatus();
  return errors::InvalidArgument("keys: more than 2^31 - 1 ids in one "
                                 "batch, got ", keys.NumElements());
}

// TFRA>SegmentSumRows' inputs, checked: data [n, ...], segment_ids [n],
// num_segments a scalar >= 0 (host memory on every device).
struct SegmentSumArgs {
  int64_t rows = 0;      // n
  int64_t width = 1;     // elements per row of data
  int64_t segments = 0;  // num_segments
  TensorShape out_shape; // [segments, ...]

  absl::Status Parse(OpKernelContext* ctx) {
    const Tensor& data = ctx->input(0);
    const Tensor& ids = ctx->input(1);
    const Tensor& num = ctx->input(2);
    if (data.dims() < 1) {
      return errors::InvalidArgument("data: must have rank >= 1");
    }
    if (!TensorShapeUtils::IsVector(ids.shape()) ||
        ids.dim_size(0) != data.dim_size(0)) {
      return errors::InvalidArgument(
          "segment_ids: must be a vector with one id per row of data (",
          data.dim_size(0), "), got shape ", ids.shape().DebugString());
    }
    if (!TensorShapeUtils::IsScalar(num.shape()) || num.scalar<int32>()() < 0) {
      return errors::InvalidArgument("num_segments: must be a scalar >= 0");
    }
    rows = data.dim_size(0);
    segments = num.scalar<int32>()();
    width = 1;
    for (int d = 1; d < data.dims(); ++d) width *= data.dim_size(d);
    out_shape = data.shape();
    out_shape.set_dim(0, segments);
    return absl::OkStatus();
  }
};

}  // namespace tfra_ops
}  // namespace tensorflow

#endif  // TFRA_CC_KERNELS_BATCH_ARGS_H_

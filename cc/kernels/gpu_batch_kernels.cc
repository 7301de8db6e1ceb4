// TFRA>Unique and TFRA>SegmentSumRows on DEVICE_GPU, in op libraries built
// with CUDA (TFRA_WITH_CUDA): thin kernels over the TF-free device code in
// cc/core/gpu/gpu_batch.h, on the op's stream, with scratch from TF's device
// allocator (allocate_temp), so a training step's dedup and gradient merge
// stay on the GPU next to a GPU table. Same names, attrs and contract as the
// CPU kernels (cc/ops/batch_ops.cc); string keys have no GPU kernel (the
// placer keeps those ops on the CPU).
#if TFRA_WITH_CUDA
#include "cc/core/gpu/gpu_batch.h"
#include "cc/kernels/batch_args.h"
#include "cc/kernels/table_resource.h"
#include "tensorflow/core/framework/bfloat16.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace tensorflow {
namespace tfra_ops {
namespace {

namespace tg = ::tfra::core::gpu;

absl::Status AllocateScratch(OpKernelContext* ctx, size_t bytes, Tensor* t) {
  return ctx->allocate_temp(
      DT_INT8, TensorShape({static_cast<int64_t>(std::max<size_t>(bytes, 1))}),
      t);
}

template <typename TK>
class GpuUniqueOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor& keys = ctx->input(0);
    OP_REQUIRES_OK(ctx, CheckUniqueKeys(keys));
    const int64_t n = keys.NumElements();
    Tensor* idx;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, keys.shape(), &idx));
    if (n == 0) {
      Tensor* unique;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({0}), &unique));
      return;
    }
    void* stream = OpStream(ctx);
    const size_t bytes = tg::UniqueScratchBytes<TK>(static_cast<size_t>(n));
    Tensor scratch, staged;
    OP_REQUIRES_OK(ctx, AllocateScratch(ctx, bytes, &scratch));
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DataTypeToEnum<TK>::v(),
                                           TensorShape({n}), &staged));
    size_t u = 0;
    OP_REQUIRES_OK(
        ctx, ToTfStatus(tg::UniqueKeys<TK>(
                 stream, keys.flat<TK>().data(), static_cast<size_t>(n),
                 scratch.flat<int8>().data(), bytes, staged.flat<TK>().data(),
                 idx->flat<int32>().data(), &u)));
    Tensor* unique;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            0, TensorShape({static_cast<int64_t>(u)}), &unique));
    OP_REQUIRES_OK(ctx, ToTfStatus(tg::CopyDeviceMemory(
                            stream, unique->flat<TK>().data(),
                            staged.flat<TK>().data(), u * sizeof(TK))));
  }
};

template <typename T>
class GpuSegmentSumRowsOp : public OpKernel {
 public:
  using OpKernel::OpKernel;
  void Compute(OpKernelContext* ctx) override {
    const Tensor& data = ctx->input(0);
    const Tensor& ids = ctx->input(1);
    SegmentSumArgs args;
    OP_REQUIRES_OK(ctx, args.Parse(ctx));
    Tensor* out;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, args.out_shape, &out));
    ::tfra::core::ValueType type;
    OP_REQUIRES_OK(ctx, ValueTypeOf(DataTypeToEnum<T>::v(), &type));
    const size_t bytes =
        tg::SegmentSumScratchBytes(type, args.segments, args.width);
    Tensor scratch;
    OP_REQUIRES_OK(ctx, AllocateScratch(ctx, bytes, &scratch));
    OP_REQUIRES_OK(
        ctx, ToTfStatus(tg::SegmentSumRows(
                 OpStream(ctx), type, data.flat<T>().data(),
                 ids.flat<int32>().data(), static_cast<size_t>(args.rows),
                 args.width, args.segments, scratch.flat<int8>().data(), bytes,
                 out->flat<T>().data())));
  }
};

#define TFRA_REGISTER_GPU_SEGMENT_SUM(T)                     \
  REGISTER_KERNEL_BUILDER(Name("TFRA>SegmentSumRows")        \
                              .Device(DEVICE_GPU)            \
                              .HostMemory("num_segments")    \
                              .TypeConstraint<T>("T"),       \
                          GpuSegmentSumRowsOp<T>);
TFRA_REGISTER_GPU_SEGMENT_SUM(float)
TFRA_REGISTER_GPU_SEGMENT_SUM(Eigen::half)
TFRA_REGISTER_GPU_SEGMENT_SUM(bfloat16)
TFRA_REGISTER_GPU_SEGMENT_SUM(double)
#undef TFRA_REGISTER_GPU_SEGMENT_SUM

#define TFRA_REGISTER_GPU_UNIQUE(K)                                         \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("TFRA>Unique").Device(DEVICE_GPU).TypeConstraint<K>("T"),        \
      GpuUniqueOp<K>);
TFRA_REGISTER_GPU_UNIQUE(int64_t)
TFRA_REGISTER_GPU_UNIQUE(int32)
#undef TFRA_REGISTER_GPU_UNIQUE

}  // namespace
}  // namespace tfra_ops
}  // namespace tensorflow
#endif  // TFRA_WITH_CUDA

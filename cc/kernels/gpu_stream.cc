// The CUDA stream of a GPU op, for the core's ExecContext. Only in op
// libraries built with CUDA (TFRA_WITH_CUDA); TF's stream executor hands the
// raw cudaStream_t out as PlatformSpecificHandle::stream.
#if TFRA_WITH_CUDA
#include "cc/kernels/table_resource.h"
#include "tensorflow/core/framework/device_base.h"
#include "xla/stream_executor/stream.h"

namespace tensorflow {
namespace tfra_ops {

void* OpStream(OpKernelContext* ctx) {
  const DeviceContext* device_context = ctx->op_device_context();
  if (device_context == nullptr || device_context->stream() == nullptr) {
    return nullptr;  // the legacy default stream
  }
  return device_context->stream()->platform_specific_handle().stream;
}

}  // namespace tfra_ops
}  // namespace tensorflow
#endif  // TFRA_WITH_CUDA

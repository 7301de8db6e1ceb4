// The CUDA stream of a GPU op and host<->device copies on it, for the
// core's ExecContext. Only in op libraries built with CUDA (TFRA_WITH_CUDA);
// TF's stream executor hands the raw cudaStream_t out as
// PlatformSpecificHandle::stream, and does the copies itself (so this file
// needs no CUDA header).
#if TFRA_WITH_CUDA
#include "cc/kernels/table_resource.h"
#include "tensorflow/core/framework/device_base.h"
#include "xla/stream_executor/device_address.h"
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

namespace {

::tfra::core::Status FromTf(const absl::Status& s) {
  if (s.ok()) return ::tfra::core::Status::OK();
  return ::tfra::core::Status(::tfra::core::Code::kInternal,
                              "gpu copy: " + std::string(s.message()));
}

// Enqueues copy(stream) on the op's stream and waits for it.
template <typename Copy>
::tfra::core::Status CopyAndWait(OpKernelContext* ctx, size_t bytes,
                                 const Copy& copy) {
  if (bytes == 0) return ::tfra::core::Status::OK();
  const DeviceContext* device_context = ctx->op_device_context();
  stream_executor::Stream* stream =
      device_context == nullptr ? nullptr : device_context->stream();
  if (stream == nullptr) {
    return ::tfra::core::Status(::tfra::core::Code::kInternal,
                                "gpu copy: the op has no stream");
  }
  absl::Status s = copy(stream);
  if (s.ok()) s = stream->BlockHostUntilDone();
  return FromTf(s);
}

}  // namespace

::tfra::core::Status CopyToHost(OpKernelContext* ctx, void* host_dst,
                                const void* device_src, size_t bytes) {
  return CopyAndWait(ctx, bytes, [&](stream_executor::Stream* stream) {
    const stream_executor::DeviceAddressBase src(const_cast<void*>(device_src),
                                                 bytes);
    return stream->Memcpy(host_dst, src, bytes);
  });
}

::tfra::core::Status CopyFromHost(OpKernelContext* ctx, void* device_dst,
                                  const void* host_src, size_t bytes) {
  return CopyAndWait(ctx, bytes, [&](stream_executor::Stream* stream) {
    stream_executor::DeviceAddressBase dst(device_dst, bytes);
    return stream->Memcpy(&dst, host_src, bytes);
  });
}

}  // namespace tfra_ops
}  // namespace tensorflow
#endif  // TFRA_WITH_CUDA

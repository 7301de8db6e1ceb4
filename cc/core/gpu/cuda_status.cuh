// CUDA errors as the core's Status, and the stream cast, shared by the
// CUDA sources of cc/core/gpu (host code only).
#ifndef TFRA_CC_CORE_GPU_CUDA_STATUS_CUH_
#define TFRA_CC_CORE_GPU_CUDA_STATUS_CUH_

#include <cuda_runtime.h>

#include <string>

#include "cc/core/status.h"

namespace tfra {
namespace core {
namespace gpu {

inline cudaStream_t AsStream(void* s) { return static_cast<cudaStream_t>(s); }

// OK, or "<component>: <what>: <CUDA's message>": ResourceExhausted when
// device memory ran out, Internal otherwise.
inline Status CudaStatus(cudaError_t e, const char* component,
                         const char* what) {
  if (e == cudaSuccess) return Status::OK();
  const Code code = e == cudaErrorMemoryAllocation ? Code::kResourceExhausted
                                                   : Code::kInternal;
  return Status(code, std::string(component) + ": " + what + ": " +
                          cudaGetErrorString(e));
}

// Returns the CUDA error of `expr` through the including file's own
// two-argument CudaStatus(e, what), which names its component.
#define TFRA_CUDA_RETURN_IF_ERROR(expr, what) \
  TFRA_CORE_RETURN_IF_ERROR(CudaStatus((expr), (what)))

}  // namespace gpu
}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_GPU_CUDA_STATUS_CUH_

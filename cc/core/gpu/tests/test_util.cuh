// Checks and device buffers shared by the TF-free CUDA test binaries
// (gpu_table_test.cu, gpu_batch_test.cu): no GoogleTest, so the binaries run
// on a GPU machine that has only the CUDA toolkit's runtime. Each binary
// exits 0 when every check passed, 1 on a failure, 77 without a usable GPU.
#ifndef TFRA_CC_CORE_GPU_TESTS_TEST_UTIL_CUH_
#define TFRA_CC_CORE_GPU_TESTS_TEST_UTIL_CUH_

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cc/core/gpu/gpu_hash_table.h"
#include "cc/core/status.h"

namespace {

using ::tfra::core::Status;

inline int g_failures = 0;
inline const char* g_test = "";

#define CHECK_TRUE(cond, ...)                                          \
  do {                                                                 \
    if (!(cond)) {                                                     \
      ++g_failures;                                                    \
      std::fprintf(stderr, "FAIL %s (%s:%d): %s: ", g_test, __FILE__,  \
                   __LINE__, #cond);                                   \
      std::fprintf(stderr, __VA_ARGS__);                               \
      std::fprintf(stderr, "\n");                                      \
      return;                                                          \
    }                                                                  \
  } while (0)

#define CHECK_OK(expr)                                                 \
  do {                                                                 \
    const Status _s = (expr);                                          \
    CHECK_TRUE(_s.ok(), "%s", _s.message().c_str());                   \
  } while (0)

void Cuda(cudaError_t e) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "CUDA error: %s\n", cudaGetErrorString(e));
    std::exit(1);
  }
}

// A device copy of a host vector, freed with the object.
template <typename T>
struct Dev {
  T* ptr = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    Cuda(cudaMalloc(&ptr, std::max<size_t>(count, 1) * sizeof(T)));
  }
  explicit Dev(const std::vector<T>& host) : Dev(host.size()) {
    if (n) Cuda(cudaMemcpy(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~Dev() { cudaFree(ptr); }
  std::vector<T> Host() const {
    std::vector<T> out(n);
    if (n) Cuda(cudaMemcpy(out.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return out;
  }
};

#define RUN(...)                   \
  do {                             \
    g_test = #__VA_ARGS__;         \
    const int before = g_failures; \
    __VA_ARGS__;                   \
    std::printf("%s %s\n", g_failures == before ? "ok  " : "FAIL", g_test); \
  } while (0)

// True (after printing the reason) when no CUDA device is usable: main then
// returns 77, the "skipped" exit status.
inline bool SkipWithoutGpu() {
  std::string why;
  if (::tfra::core::gpu::GpuAvailable(&why)) return false;
  std::printf("SKIP: %s\n", why.c_str());
  return true;
}

// The summary line and main's exit status: 0 passed, 1 failed.
inline int Finish() {
  std::printf("%s: %d failure(s)\n", g_failures ? "FAILED" : "PASSED",
              g_failures);
  return g_failures ? 1 : 0;
}

}  // namespace

#endif  // TFRA_CC_CORE_GPU_TESTS_TEST_UTIL_CUH_

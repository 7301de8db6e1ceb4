// Kernels and host side of the device batch ops (design: gpu_batch.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cub/cub.cuh>
#include <string>
#include <type_traits>

#include "cc/core/gpu/cuda_status.cuh"
#include "cc/core/gpu/gpu_batch.h"

namespace tfra {
namespace core {
namespace gpu {
namespace {

constexpr int kThreads = 256;

Status CudaStatus(cudaError_t e, const char* what) {
  return gpu::CudaStatus(e, "gpu batch op", what);
}

unsigned Grid(uint64_t n) {
  return static_cast<unsigned>(
      std::max<uint64_t>(1, std::min<uint64_t>((n + kThreads - 1) / kThreads,
                                               65535)));
}

size_t Align(size_t bytes) { return (bytes + 255) & ~size_t{255}; }

// Bits a radix sort of positions in [0, n] needs.
int PositionBits(size_t n) {
  int bits = 1;
  while (bits < 32 && (uint64_t{1} << bits) <= n) ++bits;
  return bits;
}

// ---- Unique ----

__global__ void IotaKernel(int32_t* out, size_t n) {
  for (size_t i = blockIdx.x * size_t{kThreads} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * kThreads) {
    out[i] = static_cast<int32_t>(i);
  }
}

// heads[j] = 1 where a run of equal sorted keys starts.
template <typename K>
__global__ void HeadsKernel(const K* sorted, size_t n, int32_t* heads) {
  for (size_t j = blockIdx.x * size_t{kThreads} + threadIdx.x; j < n;
       j += size_t{gridDim.x} * kThreads) {
    heads[j] = (j == 0 || sorted[j] != sorted[j - 1]) ? 1 : 0;
  }
}

// Each run head writes its key and first position at its run number; run
// numbers never written keep first_pos = n (set before), so they sort last.
template <typename K>
__global__ void RunsKernel(const K* sorted_keys, const int32_t* sorted_pos,
                           const int32_t* heads, const int32_t* run_end,
                           size_t n, K* run_keys, int32_t* first_pos,
                           int32_t* count) {
  for (size_t j = blockIdx.x * size_t{kThreads} + threadIdx.x; j < n;
       j += size_t{gridDim.x} * kThreads) {
    const int32_t run = run_end[j] - 1;
    if (heads[j]) {
      run_keys[run] = sorted_keys[j];
      first_pos[run] = sorted_pos[j];
    }
    if (j == n - 1) *count = run_end[j];
  }
}

__global__ void FillKernel(int32_t* out, size_t n, int32_t value) {
  for (size_t i = blockIdx.x * size_t{kThreads} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * kThreads) {
    out[i] = value;
  }
}

// order[rank] = run, for the runs in first-seen order: the rank of every
// real run, and the unique keys in that order.
template <typename K>
__global__ void RankKernel(const int32_t* order, const int32_t* sorted_first,
                           const K* run_keys, size_t n, int32_t* rank_of,
                           K* unique) {
  for (size_t r = blockIdx.x * size_t{kThreads} + threadIdx.x; r < n;
       r += size_t{gridDim.x} * kThreads) {
    if (sorted_first[r] == static_cast<int32_t>(n)) continue;  // no such run
    const int32_t run = order[r];
    rank_of[run] = static_cast<int32_t>(r);
    unique[r] = run_keys[run];
  }
}

__global__ void IdxKernel(const int32_t* sorted_pos, const int32_t* run_end,
                          const int32_t* rank_of, size_t n, int32_t* idx) {
  for (size_t j = blockIdx.x * size_t{kThreads} + threadIdx.x; j < n;
       j += size_t{gridDim.x} * kThreads) {
    idx[sorted_pos[j]] = rank_of[run_end[j] - 1];
  }
}

// Scratch of UniqueKeys: nine n-element arrays, the count, CUB's storage.
template <typename K>
struct UniqueScratch {
  K* sorted_keys;
  K* run_keys;
  int32_t* pos;
  int32_t* sorted_pos;
  int32_t* heads;
  int32_t* run_end;
  int32_t* first_pos;
  int32_t* sorted_first;
  int32_t* runs;
  int32_t* order;  // doubles as rank_of once the sort is done with it
  int32_t* count;
  void* cub;
  size_t cub_bytes;
  size_t total;

  UniqueScratch(char* base, size_t n) {
    size_t off = 0;
    auto take = [&](size_t bytes) {
      char* p = base == nullptr ? nullptr : base + off;
      off += Align(std::max<size_t>(bytes, 1));
      return p;
    };
    sorted_keys = reinterpret_cast<K*>(take(n * sizeof(K)));
    run_keys = reinterpret_cast<K*>(take(n * sizeof(K)));
    int32_t** ints[] = {&pos, &heads, &sorted_pos, &run_end, &first_pos,
                        &sorted_first, &runs, &order};
    for (int32_t** p : ints) *p = reinterpret_cast<int32_t*>(take(n * 4));
    count = reinterpret_cast<int32_t*>(take(4));
    size_t by_key = 0, scan = 0, by_pos = 0;
    cub::DeviceRadixSort::SortPairs(nullptr, by_key, sorted_keys, sorted_keys,
                                    pos, pos, static_cast<int>(n));
    cub::DeviceScan::InclusiveSum(nullptr, scan, heads, heads,
                                  static_cast<int>(n));
    cub::DeviceRadixSort::SortPairs(nullptr, by_pos, first_pos, first_pos,
                                    runs, runs, static_cast<int>(n));
    cub_bytes = std::max({by_key, scan, by_pos, size_t{1}});
    cub = take(cub_bytes);
    total = off;
  }
};

}  // namespace

template <typename K>
size_t UniqueScratchBytes(size_t n) {
  return UniqueScratch<K>(nullptr, n).total;
}

template <typename K>
Status UniqueKeys(void* stream, const K* keys, size_t n, void* scratch,
                  size_t scratch_bytes, K* unique, int32_t* idx,
                  size_t* host_count) {
  *host_count = 0;
  if (n == 0) return Status::OK();
  if (n >= (size_t{1} << 31)) {
    return Status(Code::kInvalidArgument,
                  "keys: more than 2^31 - 1 ids in one batch");
  }
  UniqueScratch<K> s(static_cast<char*>(scratch), n);
  if (scratch_bytes < s.total) {
    return Status(Code::kInvalidArgument,
                  "gpu unique: scratch smaller than UniqueScratchBytes(n)");
  }
  cudaStream_t st = AsStream(stream);
  const int count = static_cast<int>(n);
  const unsigned grid = Grid(n);
  IotaKernel<<<grid, kThreads, 0, st>>>(s.pos, n);
  size_t bytes = s.cub_bytes;
  TFRA_CUDA_RETURN_IF_ERROR(
      cub::DeviceRadixSort::SortPairs(s.cub, bytes, keys, s.sorted_keys, s.pos,
                                      s.sorted_pos, count, 0,
                                      static_cast<int>(sizeof(K) * 8), st),
      "sort by key");
  HeadsKernel<<<grid, kThreads, 0, st>>>(s.sorted_keys, n, s.heads);
  bytes = s.cub_bytes;
  TFRA_CUDA_RETURN_IF_ERROR(
      cub::DeviceScan::InclusiveSum(s.cub, bytes, s.heads, s.run_end, count,
                                    st),
      "scan run heads");
  FillKernel<<<grid, kThreads, 0, st>>>(s.first_pos, n, count);
  RunsKernel<<<grid, kThreads, 0, st>>>(s.sorted_keys, s.sorted_pos, s.heads,
                                        s.run_end, n, s.run_keys, s.first_pos,
                                        s.count);
  IotaKernel<<<grid, kThreads, 0, st>>>(s.runs, n);
  bytes = s.cub_bytes;
  TFRA_CUDA_RETURN_IF_ERROR(
      cub::DeviceRadixSort::SortPairs(s.cub, bytes, s.first_pos, s.sorted_first,
                                      s.runs, s.order, count, 0,
                                      PositionBits(n), st),
      "sort by first position");
  // rank_of reuses first_pos (no longer needed once sorted_first exists).
  int32_t* rank_of = s.first_pos;
  RankKernel<<<grid, kThreads, 0, st>>>(s.order, s.sorted_first, s.run_keys, n,
                                        rank_of, unique);
  IdxKernel<<<grid, kThreads, 0, st>>>(s.sorted_pos, s.run_end, rank_of, n,
                                       idx);
  TFRA_CUDA_RETURN_IF_ERROR(cudaGetLastError(), "launch");
  int32_t u = 0;
  TFRA_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(&u, s.count, sizeof(u), cudaMemcpyDeviceToHost, st),
      "read unique count");
  TFRA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(st), "synchronize");
  *host_count = static_cast<size_t>(u);
  return Status::OK();
}

namespace {

// ---- SegmentSumRows ----

__global__ void CheckIdsKernel(const int32_t* ids, size_t n, int64_t segments,
                               unsigned long long* first_bad) {
  for (size_t i = blockIdx.x * size_t{kThreads} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * kThreads) {
    if (ids[i] < 0 || ids[i] >= segments) {
      atomicMin(first_bad, static_cast<unsigned long long>(i));
    }
  }
}

__device__ inline float ToFloat(__half v) { return __half2float(v); }
__device__ inline float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline void FromFloat(float v, __half* out) {
  *out = __float2half_rn(v);
}
__device__ inline void FromFloat(float v, __nv_bfloat16* out) {
  *out = __float2bfloat16_rn(v);
}

// acc[ids[i] * width + j] += data[i * width + j], one thread per element.
template <typename T, typename Acc>
__global__ void AddRowsKernel(const T* data, const int32_t* ids, size_t n,
                              int64_t width, Acc* acc) {
  const uint64_t total = static_cast<uint64_t>(n) * width;
  for (uint64_t e = blockIdx.x * uint64_t{kThreads} + threadIdx.x; e < total;
       e += uint64_t{gridDim.x} * kThreads) {
    const uint64_t i = e / width;
    const uint64_t j = e - i * width;
    if constexpr (std::is_same<T, Acc>::value) {
      atomicAdd(acc + ids[i] * width + j, data[e]);
    } else {
      atomicAdd(acc + ids[i] * width + j, ToFloat(data[e]));
    }
  }
}

template <typename T>
__global__ void RoundKernel(const float* acc, uint64_t total, T* out) {
  for (uint64_t e = blockIdx.x * uint64_t{kThreads} + threadIdx.x; e < total;
       e += uint64_t{gridDim.x} * kThreads) {
    FromFloat(acc[e], out + e);
  }
}

bool Is16Bit(ValueType t) {
  return t == ValueType::kFloat16 || t == ValueType::kBFloat16;
}

template <typename T>
Status SumRows16(cudaStream_t st, const void* data, const int32_t* ids,
                 size_t n, int64_t width, uint64_t total, float* acc,
                 void* out) {
  TFRA_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(acc, 0, total * 4, st),
                            "zero accumulators");
  AddRowsKernel<T, float><<<Grid(uint64_t{n} * width), kThreads, 0, st>>>(
      static_cast<const T*>(data), ids, n, width, acc);
  RoundKernel<T><<<Grid(total), kThreads, 0, st>>>(acc, total,
                                                   static_cast<T*>(out));
  return CudaStatus(cudaGetLastError(), "launch");
}

template <typename T>
Status SumRowsDirect(cudaStream_t st, const void* data, const int32_t* ids,
                     size_t n, int64_t width, uint64_t total, void* out) {
  TFRA_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(out, 0, total * sizeof(T), st),
                            "zero output");
  AddRowsKernel<T, T><<<Grid(uint64_t{n} * width), kThreads, 0, st>>>(
      static_cast<const T*>(data), ids, n, width, static_cast<T*>(out));
  return CudaStatus(cudaGetLastError(), "launch");
}

}  // namespace

size_t SegmentSumScratchBytes(ValueType type, int64_t segments,
                              int64_t width) {
  const size_t acc = Is16Bit(type) ? static_cast<size_t>(segments) * width * 4
                                   : 0;
  return Align(8) + Align(std::max<size_t>(acc, 1));
}

Status SegmentSumRows(void* stream, ValueType type, const void* data,
                      const int32_t* ids, size_t n, int64_t width,
                      int64_t segments, void* scratch, size_t scratch_bytes,
                      void* out) {
  if (type != ValueType::kFloat32 && type != ValueType::kFloat64 &&
      !Is16Bit(type)) {
    return Status(Code::kInvalidArgument,
                  "data: segment sums take float32, float16, bfloat16 or "
                  "float64 rows");
  }
  if (scratch_bytes < SegmentSumScratchBytes(type, segments, width)) {
    return Status(Code::kInvalidArgument,
                  "gpu segment sum: scratch smaller than "
                  "SegmentSumScratchBytes");
  }
  cudaStream_t st = AsStream(stream);
  const uint64_t total = static_cast<uint64_t>(segments) * width;
  auto* first_bad = static_cast<unsigned long long*>(scratch);
  float* acc = reinterpret_cast<float*>(static_cast<char*>(scratch) + Align(8));
  if (n > 0) {
    const unsigned long long none = ~0ull;
    TFRA_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(first_bad, 0xff, 8, st),
                              "reset id check");
    CheckIdsKernel<<<Grid(n), kThreads, 0, st>>>(ids, n, segments, first_bad);
    unsigned long long bad = none;
    TFRA_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(&bad, first_bad, sizeof(bad), cudaMemcpyDeviceToHost,
                        st),
        "read id check");
    TFRA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(st), "synchronize");
    if (bad != none) {
      int32_t id = 0;
      TFRA_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(&id, ids + bad, sizeof(id), cudaMemcpyDeviceToHost,
                          st),
          "read bad id");
      TFRA_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(st), "synchronize");
      return Status(Code::kInvalidArgument,
                    "segment_ids: id " + std::to_string(id) + " at position " +
                        std::to_string(bad) + " is outside [0, " +
                        std::to_string(segments) + ")");
    }
  }
  if (total == 0) return Status::OK();
  switch (type) {
    case ValueType::kFloat32:
      return SumRowsDirect<float>(st, data, ids, n, width, total, out);
    case ValueType::kFloat64:
      return SumRowsDirect<double>(st, data, ids, n, width, total, out);
    case ValueType::kFloat16:
      return SumRows16<__half>(st, data, ids, n, width, total, acc, out);
    default:
      return SumRows16<__nv_bfloat16>(st, data, ids, n, width, total, acc,
                                      out);
  }
}

Status CopyDeviceMemory(void* stream, void* dst, const void* src,
                        size_t bytes) {
  if (bytes == 0) return Status::OK();
  return CudaStatus(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice,
                                    AsStream(stream)),
                    "device copy");
}

#define TFRA_INSTANTIATE_UNIQUE(K)                                         \
  template size_t UniqueScratchBytes<K>(size_t);                           \
  template Status UniqueKeys<K>(void*, const K*, size_t, void*, size_t, K*, \
                                int32_t*, size_t*);
TFRA_INSTANTIATE_UNIQUE(int64_t)
TFRA_INSTANTIATE_UNIQUE(int32_t)
#undef TFRA_INSTANTIATE_UNIQUE

}  // namespace gpu
}  // namespace core
}  // namespace tfra

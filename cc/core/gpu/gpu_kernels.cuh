// Device code of the CUDA hash table (layout and locking rules:
// gpu_hash_table.h). One warp handles one key: lane l reads digest bytes
// 4l .. 4l+3 of the key's bucket as one 32-bit word (the warp reads the
// bucket's 128 digests as one coalesced 128-byte line), checks the keys of
// its matching slots, and the warp agrees on the slot by ballot. Rows are
// copied by the whole warp in 4-, 2- or 1-byte words (the widest dividing
// row_bytes), so each copy instruction of the warp is coalesced.
//
// Locks: lane 0 takes them, the warp waits on __syncwarp. Order: bucket lock
// before slot lock (claims, evictions, removals); updates of an existing row
// take only the slot lock. A slot lock is the slot's version made odd.
// Readers take no lock: they read the version (waiting while it is odd),
// copy, fence, and retry if the version, digest or key changed.
#ifndef TFRA_CC_CORE_GPU_GPU_KERNELS_CUH_
#define TFRA_CC_CORE_GPU_GPU_KERNELS_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>

#include "cc/core/gpu/gpu_hash_table.h"

namespace tfra {
namespace core {
namespace gpu {
namespace kernels {

constexpr uint8_t kEmpty = 0;
constexpr uint8_t kBusy = 1;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarp = 32;
constexpr int kBlock = 256;

__device__ __forceinline__ uint64_t Mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

template <typename K>
__device__ __forceinline__ uint64_t HashOf(K key) {
  return Mix64(static_cast<uint64_t>(static_cast<int64_t>(key)));
}

__device__ __forceinline__ uint8_t DigestOf(uint64_t h) {
  const uint8_t d = static_cast<uint8_t>(h & 0xff);
  return d < 2 ? static_cast<uint8_t>(d + 2) : d;
}

__device__ __forceinline__ uint64_t BucketOf(uint64_t h, uint64_t buckets) {
  return (h >> 8) & (buckets - 1);
}

template <typename T>
__device__ __forceinline__ T LoadVolatile(const T* p) {
  return *reinterpret_cast<const volatile T*>(p);
}

template <typename T>
__device__ __forceinline__ void StoreVolatile(T* p, T v) {
  *reinterpret_cast<volatile T*>(p) = v;
}

// Lane l's 4 digests of bucket b, as a 32-bit word (byte j = slot 4l + j).
__device__ __forceinline__ uint32_t DigestWord(const uint8_t* digests,
                                               uint64_t bucket, int lane) {
  return LoadVolatile(reinterpret_cast<const uint32_t*>(
                          digests + bucket * kBucketSlots) + lane);
}

// Bytes of `word` equal to `byte`, as a 4-bit mask (bit j = byte j).
__device__ __forceinline__ uint32_t ByteMatches(uint32_t word, uint8_t byte) {
  const uint32_t eq = __vcmpeq4(word, 0x01010101u * byte);
  return ((eq >> 7) & 1u) | ((eq >> 14) & 2u) | ((eq >> 21) & 4u) |
         ((eq >> 28) & 8u);
}

// The slot of `key` in its bucket, or -1; every lane gets the answer.
template <typename K>
__device__ __forceinline__ int64_t ScanFor(const GpuSlots<K>& s, K key,
                                           uint64_t bucket, uint8_t digest,
                                           int lane) {
  const uint32_t word = DigestWord(s.digests, bucket, lane);
  uint32_t matches = ByteMatches(word, digest);
  int found = -1;
  while (matches != 0) {
    const int j = __ffs(matches) - 1;
    matches &= matches - 1;
    const int slot_in_bucket = lane * 4 + j;
    if (LoadVolatile(s.keys + bucket * kBucketSlots + slot_in_bucket) == key) {
      found = slot_in_bucket;
      break;
    }
  }
  const unsigned hit = __ballot_sync(kFull, found >= 0);
  if (hit == 0) return -1;
  const int leader = __ffs(hit) - 1;
  found = __shfl_sync(kFull, found, leader);
  return static_cast<int64_t>(bucket * kBucketSlots + found);
}

// An empty slot of the bucket (the caller holds the bucket lock), or -1.
template <typename K>
__device__ __forceinline__ int64_t ScanEmpty(const GpuSlots<K>& s,
                                             uint64_t bucket, int lane) {
  const uint32_t word = DigestWord(s.digests, bucket, lane);
  const uint32_t empty = ByteMatches(word, kEmpty);
  const unsigned any = __ballot_sync(kFull, empty != 0);
  if (any == 0) return -1;
  const int leader = __ffs(any) - 1;
  const int j = __shfl_sync(kFull, __ffs(empty) - 1, leader);
  return static_cast<int64_t>(bucket * kBucketSlots + leader * 4 + j);
}

// The occupied slot of the bucket with the lowest score (bucket locked and
// full), and that score; every lane gets both.
template <typename K>
__device__ __forceinline__ int64_t ScanLowestScore(const GpuSlots<K>& s,
                                                   uint64_t bucket, int lane,
                                                   uint64_t* score) {
  uint64_t best = ~0ULL;
  int best_slot = lane * 4;
  for (int j = 0; j < 4; ++j) {
    const int slot = lane * 4 + j;
    const uint64_t v = LoadVolatile(s.scores + bucket * kBucketSlots + slot);
    if (v < best) {
      best = v;
      best_slot = slot;
    }
  }
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const uint64_t other = __shfl_down_sync(kFull, best, offset);
    const int other_slot = __shfl_down_sync(kFull, best_slot, offset);
    if (other < best || (other == best && other_slot < best_slot)) {
      best = other;
      best_slot = other_slot;
    }
  }
  best = __shfl_sync(kFull, best, 0);
  best_slot = __shfl_sync(kFull, best_slot, 0);
  *score = best;
  return static_cast<int64_t>(bucket * kBucketSlots + best_slot);
}

__device__ __forceinline__ void LockWord(uint32_t* lock, int lane) {
  if (lane == 0) {
    while (atomicCAS(lock, 0u, 1u) != 0u) {
      __nanosleep(32);
    }
    __threadfence();
  }
  __syncwarp();
}

__device__ __forceinline__ void UnlockWord(uint32_t* lock, int lane) {
  __syncwarp();
  if (lane == 0) {
    __threadfence();
    atomicExch(lock, 0u);
  }
  __syncwarp();
}

// Makes the slot's version odd (owning the slot); returns the even version
// it had, on every lane.
__device__ __forceinline__ uint32_t LockSlot(uint32_t* version, int lane) {
  uint32_t v = 0;
  if (lane == 0) {
    while (true) {
      v = LoadVolatile(version);
      if ((v & 1u) == 0u && atomicCAS(version, v, v + 1u) == v) break;
      __nanosleep(32);
    }
    __threadfence();
  }
  return __shfl_sync(kFull, v, 0);
}

__device__ __forceinline__ void UnlockSlot(uint32_t* version, uint32_t was,
                                           int lane) {
  __syncwarp();
  if (lane == 0) {
    __threadfence();
    atomicExch(version, was + 2u);
  }
  __syncwarp();
}

// Warp copy of one row (row_bytes bytes; `word` divides row_bytes and both
// pointers' alignment). Loads are volatile (they bypass L1): a table row
// read here may have been written by another SM since this SM cached it.
__device__ __forceinline__ void CopyRow(char* dst, const char* src,
                                        size_t row_bytes, int word, int lane) {
  if (word == 4) {
    const uint32_t* s = reinterpret_cast<const uint32_t*>(src);
    uint32_t* d = reinterpret_cast<uint32_t*>(dst);
    for (size_t i = lane; i < row_bytes / 4; i += kWarp) d[i] = LoadVolatile(s + i);
  } else if (word == 2) {
    const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
    uint16_t* d = reinterpret_cast<uint16_t*>(dst);
    for (size_t i = lane; i < row_bytes / 2; i += kWarp) d[i] = LoadVolatile(s + i);
  } else {
    for (size_t i = lane; i < row_bytes; i += kWarp) dst[i] = LoadVolatile(src + i);
  }
}

// dst += delta, elementwise in value type `type` (integers wrap, bool ORs,
// half and bfloat16 add in float and round to nearest even). The table row
// `dst` is read with volatile loads: another SM may have written it since
// this SM's L1 cached the line.
__device__ __forceinline__ void AddRow(char* dst, const char* delta,
                                       int64_t dim, ValueType type, int lane) {
  for (int64_t i = lane; i < dim; i += kWarp) {
    switch (type) {
      case ValueType::kFloat32: {
        float* d = reinterpret_cast<float*>(dst) + i;
        *d = LoadVolatile(d) + reinterpret_cast<const float*>(delta)[i];
        break;
      }
      case ValueType::kFloat64: {
        double* d = reinterpret_cast<double*>(dst) + i;
        *d = LoadVolatile(d) + reinterpret_cast<const double*>(delta)[i];
        break;
      }
      case ValueType::kFloat16: {
        uint16_t* d = reinterpret_cast<uint16_t*>(dst) + i;
        const float sum =
            __half2float(__ushort_as_half(LoadVolatile(d))) +
            __half2float(__ushort_as_half(reinterpret_cast<const uint16_t*>(delta)[i]));
        *d = __half_as_ushort(__float2half_rn(sum));
        break;
      }
      case ValueType::kBFloat16: {
        uint16_t* d = reinterpret_cast<uint16_t*>(dst) + i;
        const float sum =
            __bfloat162float(__ushort_as_bfloat16(LoadVolatile(d))) +
            __bfloat162float(__ushort_as_bfloat16(
                reinterpret_cast<const uint16_t*>(delta)[i]));
        *d = __bfloat16_as_ushort(__float2bfloat16_rn(sum));
        break;
      }
      case ValueType::kInt8: {
        uint8_t* d = reinterpret_cast<uint8_t*>(dst) + i;
        *d = static_cast<uint8_t>(LoadVolatile(d) +
                                  reinterpret_cast<const uint8_t*>(delta)[i]);
        break;
      }
      case ValueType::kInt32: {
        uint32_t* d = reinterpret_cast<uint32_t*>(dst) + i;
        *d = LoadVolatile(d) + reinterpret_cast<const uint32_t*>(delta)[i];
        break;
      }
      case ValueType::kInt64: {
        unsigned long long* d = reinterpret_cast<unsigned long long*>(dst) + i;
        *d = LoadVolatile(d) + reinterpret_cast<const unsigned long long*>(delta)[i];
        break;
      }
      case ValueType::kBool:
        dst[i] = (LoadVolatile(dst + i) != 0 || delta[i] != 0) ? 1 : 0;
        break;
    }
  }
}

}  // namespace kernels
}  // namespace gpu
}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_GPU_GPU_KERNELS_CUH_

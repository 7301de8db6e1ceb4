// The CUDA hash table's kernels (design and layout: gpu_hash_table.h),
// included only by gpu_hash_table.cu. Grid-stride loops put one warp on one
// key (find, write, add, remove) or one thread on one slot (export, rehash);
// the warp-level probing and row copies are in gpu_kernels.cuh.
#ifndef TFRA_CC_CORE_GPU_GPU_TABLE_KERNELS_CUH_
#define TFRA_CC_CORE_GPU_GPU_TABLE_KERNELS_CUH_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cc/core/gpu/gpu_hash_table.h"
#include "cc/core/gpu/gpu_kernels.cuh"

namespace tfra {
namespace core {
namespace gpu {
namespace kernels {

template <typename K>
__global__ void FindKernel(GpuSlots<K> s, const K* keys, size_t n,
                           char* values, const char* defaults,
                           bool per_key_defaults, bool* exists,
                           size_t row_bytes, int word) {
  const int lane = threadIdx.x % kWarp;
  const size_t warps = static_cast<size_t>(gridDim.x) * (kBlock / kWarp);
  for (size_t i = (blockIdx.x * static_cast<size_t>(kBlock) + threadIdx.x) / kWarp;
       i < n; i += warps) {
    const K key = keys[i];
    const uint64_t h = HashOf(key);
    const uint64_t bucket = BucketOf(h, s.num_buckets);
    const uint8_t digest = DigestOf(h);
    char* out = values + i * row_bytes;
    bool found = false;
    while (true) {
      const int64_t slot = ScanFor(s, key, bucket, digest, lane);
      if (slot < 0) break;
      uint32_t v = 0;
      if (lane == 0) {
        do {
          v = LoadVolatile(s.versions + slot);
        } while (v & 1u);
      }
      v = __shfl_sync(kFull, v, 0);
      __threadfence();
      CopyRow(out, s.values + slot * row_bytes, row_bytes, word, lane);
      __threadfence();
      const bool same = LoadVolatile(s.versions + slot) == v &&
                        LoadVolatile(s.digests + slot) == digest &&
                        LoadVolatile(s.keys + slot) == key;
      if (__all_sync(kFull, same)) {
        found = true;
        break;
      }
    }
    if (!found) {
      CopyRow(out, defaults + (per_key_defaults ? i * row_bytes : 0), row_bytes,
              word, lane);
    }
    if (exists != nullptr && lane == 0) exists[i] = found;
  }
}

// Score of a write by policy: LRU the call number, LFU one more write,
// custom the caller's score.
__device__ __forceinline__ uint64_t NewScore(GpuEvictPolicy policy,
                                             uint64_t old_score, bool existed,
                                             uint64_t call,
                                             const uint64_t* scores,
                                             size_t i) {
  switch (policy) {
    case GpuEvictPolicy::kLfu: return existed ? old_score + 1 : 1;
    case GpuEvictPolicy::kCustom: return scores != nullptr ? scores[i] : 0;
    default: return call;
  }
}

// Insert-or-assign (accum_inserts false) or accum's insert pass (true: only
// positions with !exists[i]; a row already present before the call is left
// alone, and among this call's duplicates the lowest index wins).
// counters[0] += rows added; dropped keys go to dropped[counters[1]++];
// keys that found a full bucket of an unbounded table bump counters[2].
template <typename K>
__global__ void WriteKernel(GpuSlots<K> s, const K* keys, size_t n,
                            const char* values, const uint64_t* scores,
                            const bool* exists, bool accum_inserts,
                            uint64_t call, GpuEvictPolicy policy, bool bounded,
                            unsigned long long* rows,
                            unsigned long long* counters, K* dropped,
                            size_t row_bytes, int word) {
  const int lane = threadIdx.x % kWarp;
  const size_t warps = static_cast<size_t>(gridDim.x) * (kBlock / kWarp);
  for (size_t i = (blockIdx.x * static_cast<size_t>(kBlock) + threadIdx.x) / kWarp;
       i < n; i += warps) {
    if (accum_inserts && exists[i]) continue;
    const K key = keys[i];
    const uint64_t h = HashOf(key);
    const uint64_t bucket = BucketOf(h, s.num_buckets);
    const uint8_t digest = DigestOf(h);
    const uint64_t stamp =
        (call << 32) | (accum_inserts ? 0xffffffffull - i : i + 1);
    const char* row = values + i * row_bytes;
    uint32_t* bucket_lock = s.bucket_locks + bucket;
    while (true) {
      int64_t slot = ScanFor(s, key, bucket, digest, lane);
      bool locked_bucket = false;
      if (slot < 0) {
        LockWord(bucket_lock, lane);
        locked_bucket = true;
        slot = ScanFor(s, key, bucket, digest, lane);
      }
      if (slot >= 0) {
        if (locked_bucket) UnlockWord(bucket_lock, lane);
        // Update an existing row under its slot lock.
        const uint32_t v = LockSlot(s.versions + slot, lane);
        const bool same = LoadVolatile(s.digests + slot) == digest &&
                          LoadVolatile(s.keys + slot) == key;
        if (!__all_sync(kFull, same)) {  // removed or evicted meanwhile
          UnlockSlot(s.versions + slot, v, lane);
          continue;
        }
        const uint64_t old_stamp = LoadVolatile(s.stamps + slot);
        const bool before_call = (old_stamp >> 32) != call;
        const bool wins = accum_inserts ? !before_call && stamp > old_stamp
                                        : stamp > old_stamp;
        // A rerun after growth meets its own first write: nothing to do.
        const bool rerun = old_stamp == stamp;
        if (wins) {
          CopyRow(s.values + slot * row_bytes, row, row_bytes, word, lane);
        }
        __syncwarp();
        if (lane == 0) {
          if (wins) s.stamps[slot] = stamp;
          if (!rerun && (!accum_inserts || wins)) {
            s.scores[slot] = NewScore(policy, LoadVolatile(s.scores + slot),
                                      true, call, scores, i);
          }
        }
        UnlockSlot(s.versions + slot, v, lane);
        break;
      }
      // A new key: claim an empty slot, else evict (bounded) or overflow.
      slot = ScanEmpty(s, bucket, lane);
      const uint64_t score = NewScore(policy, 0, false, call, scores, i);
      uint32_t v = 0;
      bool evicting = false;
      if (slot < 0) {
        if (!bounded) {
          if (lane == 0) atomicAdd(counters + 2, 1ull);
          UnlockWord(bucket_lock, lane);
          break;
        }
        uint64_t lowest = 0;
        slot = ScanLowestScore(s, bucket, lane, &lowest);
        if (policy == GpuEvictPolicy::kCustom && score < lowest) {
          if (lane == 0 && dropped != nullptr) {
            dropped[atomicAdd(counters + 1, 1ull)] = key;
          }
          UnlockWord(bucket_lock, lane);
          break;
        }
        v = LockSlot(s.versions + slot, lane);
        evicting = true;
        if (lane == 0 && dropped != nullptr) {
          dropped[atomicAdd(counters + 1, 1ull)] = LoadVolatile(s.keys + slot);
        }
      }
      if (lane == 0) StoreVolatile(s.digests + slot, kBusy);
      __syncwarp();
      __threadfence();
      CopyRow(s.values + slot * row_bytes, row, row_bytes, word, lane);
      if (lane == 0) {
        s.keys[slot] = key;
        s.stamps[slot] = stamp;
        s.scores[slot] = score;
      }
      __syncwarp();
      __threadfence();
      if (lane == 0) {
        StoreVolatile(s.digests + slot, digest);
        if (!evicting) atomicAdd(rows, 1ull);
      }
      if (evicting) UnlockSlot(s.versions + slot, v, lane);
      UnlockWord(bucket_lock, lane);
      break;
    }
  }
}

// Accum's delta pass: positions with exists[i] add their delta to the row if
// it is present (absent: skipped).
template <typename K>
__global__ void AddKernel(GpuSlots<K> s, const K* keys, size_t n,
                          const char* deltas, const bool* exists,
                          uint64_t call, GpuEvictPolicy policy, int64_t dim,
                          ValueType type, size_t row_bytes) {
  const int lane = threadIdx.x % kWarp;
  const size_t warps = static_cast<size_t>(gridDim.x) * (kBlock / kWarp);
  for (size_t i = (blockIdx.x * static_cast<size_t>(kBlock) + threadIdx.x) / kWarp;
       i < n; i += warps) {
    if (!exists[i]) continue;
    const K key = keys[i];
    const uint64_t h = HashOf(key);
    const uint64_t bucket = BucketOf(h, s.num_buckets);
    const uint8_t digest = DigestOf(h);
    while (true) {
      const int64_t slot = ScanFor(s, key, bucket, digest, lane);
      if (slot < 0) break;
      const uint32_t v = LockSlot(s.versions + slot, lane);
      const bool same = LoadVolatile(s.digests + slot) == digest &&
                        LoadVolatile(s.keys + slot) == key;
      if (!__all_sync(kFull, same)) {
        UnlockSlot(s.versions + slot, v, lane);
        continue;
      }
      AddRow(s.values + slot * row_bytes, deltas + i * row_bytes, dim, type,
             lane);
      __syncwarp();
      if (lane == 0 && policy != GpuEvictPolicy::kCustom) {
        s.scores[slot] = NewScore(policy, LoadVolatile(s.scores + slot), true,
                                  call, nullptr, i);
      }
      UnlockSlot(s.versions + slot, v, lane);
      break;
    }
  }
}

template <typename K>
__global__ void RemoveKernel(GpuSlots<K> s, const K* keys, size_t n,
                             unsigned long long* rows) {
  const int lane = threadIdx.x % kWarp;
  const size_t warps = static_cast<size_t>(gridDim.x) * (kBlock / kWarp);
  for (size_t i = (blockIdx.x * static_cast<size_t>(kBlock) + threadIdx.x) / kWarp;
       i < n; i += warps) {
    const K key = keys[i];
    const uint64_t h = HashOf(key);
    const uint64_t bucket = BucketOf(h, s.num_buckets);
    const uint8_t digest = DigestOf(h);
    if (ScanFor(s, key, bucket, digest, lane) < 0) continue;
    LockWord(s.bucket_locks + bucket, lane);
    const int64_t slot = ScanFor(s, key, bucket, digest, lane);
    if (slot >= 0) {
      const uint32_t v = LockSlot(s.versions + slot, lane);
      if (lane == 0) {
        StoreVolatile(s.digests + slot, kEmpty);
        atomicAdd(rows, ~0ull);  // -1
      }
      UnlockSlot(s.versions + slot, v, lane);
    }
    UnlockWord(s.bucket_locks + bucket, lane);
  }
}

// One thread per slot of [begin, end): live rows are appended at
// out[atomicAdd(count)]; a row being written is re-read until consistent.
template <typename K>
__global__ void ExportKernel(GpuSlots<K> s, uint64_t begin, uint64_t end,
                             K* keys, char* values, uint64_t* scores,
                             unsigned long long* count, size_t row_bytes) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t slot = begin + blockIdx.x * static_cast<uint64_t>(blockDim.x) +
                       threadIdx.x;
       slot < end; slot += stride) {
    if (LoadVolatile(s.digests + slot) < 2) continue;
    const unsigned long long at = atomicAdd(count, 1ull);
    while (true) {
      uint32_t v;
      do {
        v = LoadVolatile(s.versions + slot);
      } while (v & 1u);
      __threadfence();
      keys[at] = LoadVolatile(s.keys + slot);
      for (size_t b = 0; b < row_bytes; ++b) {
        values[at * row_bytes + b] = LoadVolatile(s.values + slot * row_bytes + b);
      }
      if (scores != nullptr) scores[at] = LoadVolatile(s.scores + slot);
      __threadfence();
      if (LoadVolatile(s.versions + slot) == v) break;
    }
  }
}

// Moves every row of `from` into `to` (distinct keys, so no duplicate
// check); a full bucket in `to` bumps *overflow (the host then grows more).
template <typename K>
__global__ void RehashKernel(GpuSlots<K> from, GpuSlots<K> to,
                             unsigned long long* overflow, size_t row_bytes) {
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  const uint64_t slots = from.num_buckets * kBucketSlots;
  for (uint64_t slot = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x;
       slot < slots; slot += stride) {
    if (from.digests[slot] < 2) continue;
    const K key = from.keys[slot];
    const uint64_t h = HashOf(key);
    const uint64_t bucket = BucketOf(h, to.num_buckets);
    uint32_t* lock = to.bucket_locks + bucket;
    while (atomicCAS(lock, 0u, 1u) != 0u) __nanosleep(32);
    __threadfence();
    int64_t target = -1;
    for (int j = 0; j < kBucketSlots; ++j) {
      if (LoadVolatile(to.digests + bucket * kBucketSlots + j) == kEmpty) {
        target = static_cast<int64_t>(bucket * kBucketSlots + j);
        break;
      }
    }
    if (target < 0) {
      atomicAdd(overflow, 1ull);
    } else {
      to.keys[target] = key;
      to.stamps[target] = from.stamps[slot];
      to.scores[target] = from.scores[slot];
      for (size_t b = 0; b < row_bytes; ++b) {
        to.values[target * row_bytes + b] = from.values[slot * row_bytes + b];
      }
      StoreVolatile(to.digests + target, DigestOf(h));
    }
    __threadfence();
    atomicExch(lock, 0u);
  }
}

}  // namespace kernels
}  // namespace gpu
}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_GPU_GPU_TABLE_KERNELS_CUH_

// The device side of the lookup path's batch ops, TF-free like the table
// core: TFRA>Unique (distinct ids in first-seen order plus each position's
// rank) and TFRA>SegmentSumRows (merging gradient rows of duplicate ids).
// The ops' device-neutral contract is in cc/ops/batch_ops.cc; the TF kernels
// that call these are in cc/kernels/gpu_batch_kernels.cc.
//
// Unique, for n keys (all arrays device memory, scratch from the caller):
//   1. (key, position) pairs radix-sorted by key (CUB, stable: the
//      positions of one key stay ascending, so each run of equal keys
//      starts with the key's first position);
//   2. run heads flagged and inclusive-scanned into run numbers; each run's
//      key and first position are written at its run number;
//   3. the runs radix-sorted by first position (runs past the last one sort
//      after it: their position key is n), which is first-seen order;
//   4. rank_of[run] = its place in that order; unique[rank] = the run's key;
//      idx[position] = rank_of[its run].
// One synchronization at the end reads the number of runs.
//
// SegmentSumRows: the segment ids are checked first (one kernel, the first
// bad position read back on the host) so a bad id changes nothing; then one
// thread per element adds into the output with atomicAdd (float32/float64
// directly; float16/bfloat16 into float scratch, rounded once at the end).
// Sums of one segment therefore land in no fixed order, so float results
// agree with the CPU kernel's position-order sums to rounding, as the
// contract allows.
#ifndef TFRA_CC_CORE_GPU_GPU_BATCH_H_
#define TFRA_CC_CORE_GPU_GPU_BATCH_H_

#include <cstddef>
#include <cstdint>

#include "cc/core/status.h"
#include "cc/core/value_type.h"

namespace tfra {
namespace core {
namespace gpu {

// Scratch bytes UniqueKeys needs for n keys of type K (int64_t or int32_t).
template <typename K>
size_t UniqueScratchBytes(size_t n);

// unique[0, u) = the distinct keys of keys[0, n) in first-seen order (unique
// has room for n), idx[i] = the rank of keys[i] in unique, *host_count = u.
// n < 2^31. Synchronizes the stream once.
template <typename K>
Status UniqueKeys(void* stream, const K* keys, size_t n, void* scratch,
                  size_t scratch_bytes, K* unique, int32_t* idx,
                  size_t* host_count);

// Scratch bytes SegmentSumRows needs (float accumulators for 16-bit types,
// plus the id check's result word).
size_t SegmentSumScratchBytes(ValueType type, int64_t segments, int64_t width);

// out[s, :] = sum of data[i, :] over rows i with ids[i] == s; data is
// [n, width], out [segments, width], both of `type` (float32, float16,
// bfloat16, float64). InvalidArgument naming `segment_ids` and the first bad
// position when an id is outside [0, segments); nothing is written then.
// Synchronizes the stream once (the id check).
Status SegmentSumRows(void* stream, ValueType type, const void* data,
                      const int32_t* ids, size_t n, int64_t width,
                      int64_t segments, void* scratch, size_t scratch_bytes,
                      void* out);

// Copies `bytes` of device memory from src to dst on the stream.
Status CopyDeviceMemory(void* stream, void* dst, const void* src,
                        size_t bytes);

}  // namespace gpu
}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_GPU_GPU_BATCH_H_

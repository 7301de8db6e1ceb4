// Grouping a batch of keys by shard, for the sharded CPU table.
//
// make_plan hashes the whole batch once and counting-sorts batch positions
// by shard (stable, so batch order is kept inside a shard): positions of
// shard s are order[offsets[s] .. offsets[s+1]). RunShards then calls a
// function per shard with keys, spread over the caller's thread pool when
// the batch is large enough to pay for the hand-off, and returns the first
// error by shard index, so results never depend on scheduling.
#ifndef TFRA_CC_CORE_SHARD_PLAN_H_
#define TFRA_CC_CORE_SHARD_PLAN_H_

#include <cstdint>
#include <limits>
#include <vector>

#include "cc/core/hash.h"
#include "cc/core/key_store.h"
#include "cc/core/status.h"
#include "cc/core/table.h"

namespace tfra {
namespace core {

struct ShardPlan {
  std::vector<uint64_t> hashes;
  std::vector<uint32_t> order;
  std::vector<uint32_t> offsets;
};

// The shard of a hash: its top `shard_bits` bits, so shard choice never
// correlates with the in-shard probe position (low bits).
inline size_t ShardOf(uint64_t hash, int shard_bits) {
  return shard_bits == 0 ? 0 : hash >> (64 - shard_bits);
}

template <typename Arg>
Status MakeShardPlan(const Arg* keys, size_t n, int shard_bits,
                     ShardPlan* plan) {
  if (n > std::numeric_limits<uint32_t>::max()) {
    return InvalidArgument("batch larger than 2^32 - 1 keys");
  }
  const size_t shards = size_t{1} << shard_bits;
  plan->hashes.resize(n);
  plan->order.resize(n);
  plan->offsets.assign(shards + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = HashKey(keys[i]);
    plan->hashes[i] = h;
    ++plan->offsets[ShardOf(h, shard_bits) + 1];
  }
  for (size_t s = 0; s < shards; ++s) plan->offsets[s + 1] += plan->offsets[s];
  std::vector<uint32_t> cursor(plan->offsets.begin(), plan->offsets.end() - 1);
  for (size_t i = 0; i < n; ++i) {
    plan->order[cursor[ShardOf(plan->hashes[i], shard_bits)]++] =
        static_cast<uint32_t>(i);
  }
  return Status::OK();
}

// Batches below this many keys run on the calling thread.
constexpr size_t kParallelMinKeys = 4096;

// Runs fn(shard, order, count) for every shard with keys in the plan.
template <typename Fn>
Status RunShards(const ShardPlan& plan, const ParallelFor& pf,
                 int64_t ns_per_key, Fn&& fn) {
  const size_t shards = plan.offsets.size() - 1;
  const size_t n = plan.order.size();
  if (n == 0) return Status::OK();
  std::vector<Status> errors(shards);
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      const uint32_t b = plan.offsets[s], e = plan.offsets[s + 1];
      if (b != e) {
        errors[s] = fn(static_cast<size_t>(s), plan.order.data() + b, e - b);
      }
    }
  };
  if (pf && n >= kParallelMinKeys && shards > 1) {
    pf(static_cast<int64_t>(shards),
       ns_per_key * static_cast<int64_t>(n / shards + 1), work);
  } else {
    work(0, static_cast<int64_t>(shards));
  }
  for (const Status& st : errors) {
    if (!st.ok()) return st;
  }
  return Status::OK();
}

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_SHARD_PLAN_H_

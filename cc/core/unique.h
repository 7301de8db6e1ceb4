// Batch deduplication in first-seen order (the contract of tf.unique).
//
// Memory layout: one slot array of 2^k >= 2n uint32 entries (so the load
// factor stays <= 1/2), each 0 for empty or 1 + j where j indexes the j-th
// distinct key. first[j] holds the batch position of that key's first
// occurrence; the key itself is read back from the batch to compare, so no
// key is copied. Probing is linear from the key's Mix64/HashBytes hash. For
// a training batch (n ~ 10^4..10^5) the slot array is a few hundred KiB and
// stays in L2, so a key costs one hash and usually one cache-resident probe.
// Single-threaded and stateless: concurrent calls share nothing.
#ifndef TFRA_CC_CORE_UNIQUE_H_
#define TFRA_CC_CORE_UNIQUE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cc/core/hash.h"

namespace tfra {
namespace core {

// Writes idx[i] = the distinct-key number of keys[i] (0-based, in order of
// first appearance) and returns the number of distinct keys u; first (resized
// to u) receives the position of each distinct key's first occurrence.
// Requires n < 2^31.
template <typename Arg>
size_t UniqueKeys(const Arg* keys, size_t n, int32_t* idx,
                  std::vector<uint32_t>* first) {
  first->clear();
  if (n == 0) return 0;
  size_t capacity = 16;
  while (capacity < 2 * n) capacity <<= 1;
  const size_t mask = capacity - 1;
  std::vector<uint32_t> slots(capacity, 0);
  first->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    size_t pos = static_cast<size_t>(HashKey(keys[i])) & mask;
    while (true) {
      const uint32_t slot = slots[pos];
      if (slot == 0) {
        slots[pos] = static_cast<uint32_t>(first->size()) + 1;
        idx[i] = static_cast<int32_t>(first->size());
        first->push_back(static_cast<uint32_t>(i));
        break;
      }
      if (keys[(*first)[slot - 1]] == keys[i]) {
        idx[i] = static_cast<int32_t>(slot - 1);
        break;
      }
      pos = (pos + 1) & mask;
    }
  }
  return first->size();
}

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_UNIQUE_H_

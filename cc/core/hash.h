// Hash functions of the table core.
//
// One 64-bit hash per key feeds three consumers, each reading disjoint bits:
//   bits 58..63 (top)  -> lock shard        (CpuHashTable::shard_of)
//   bits  7..57        -> first probe group  (FlatIndex, masked by group count)
//   bits  0..6         -> 7-bit fingerprint stored in the control byte
// so the hash must mix every input bit into every output bit. Integer keys use
// the MurmurHash3 finalizer (a bijection on 64 bits, so distinct keys never
// collide in the full hash); strings use a word-at-a-time multiply-xorshift
// hash finished by the same finalizer. Both are stable across processes and
// platforms: exported files and key routing depend on them.
#ifndef TFRA_CC_CORE_HASH_H_
#define TFRA_CC_CORE_HASH_H_

#include <cstdint>
#include <cstring>
#include <string_view>

namespace tfra {
namespace core {

inline uint64_t Mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

inline uint64_t LoadLE64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

inline uint64_t HashBytes(const char* data, size_t len) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  uint64_t h = 0x51ED270B2A3F7C1DULL ^ (static_cast<uint64_t>(len) * kMul);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    h = (h ^ Mix64(LoadLE64(data + i) * kMul)) * kMul;
    h ^= h >> 29;
  }
  if (i < len) {
    uint64_t tail = 0;
    for (size_t j = 0; i + j < len; ++j) {
      tail |= static_cast<uint64_t>(static_cast<unsigned char>(data[i + j]))
              << (8 * j);
    }
    h = (h ^ Mix64(tail * kMul + len)) * kMul;
  }
  return Mix64(h);
}

inline uint64_t HashKey(int64_t key) { return Mix64(static_cast<uint64_t>(key)); }
inline uint64_t HashKey(int32_t key) {
  // Sign-extend so an int32 table and an int64 table route equal ids alike.
  return Mix64(static_cast<uint64_t>(static_cast<int64_t>(key)));
}
inline uint64_t HashKey(std::string_view key) {
  return HashBytes(key.data(), key.size());
}

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_HASH_H_

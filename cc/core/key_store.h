// Dense key storage of one table shard.
//
// Row r of a shard owns key_store[r] and the value bytes at
// values + r * row_bytes; both arrays stay dense ([0, size) used, no holes)
// because removal moves the last row into the freed one. Integer keys sit in
// a GrowableBuffer (no copy on growth, lazily committed pages). String keys
// are std::string objects, which are not trivially relocatable (small-string
// optimization keeps a self pointer), so they live in a std::vector that
// move-constructs them on growth.
#ifndef TFRA_CC_CORE_KEY_STORE_H_
#define TFRA_CC_CORE_KEY_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "cc/core/growable_buffer.h"

namespace tfra {
namespace core {

// KeyArg<K>: the type used to pass a key into the table without copying it.
template <typename K>
struct KeyArgOf {
  using type = K;
};
template <>
struct KeyArgOf<std::string> {
  using type = std::string_view;
};
template <typename K>
using KeyArg = typename KeyArgOf<K>::type;

template <typename K, typename Enable = void>
class KeyStore;

template <typename K>
class KeyStore<K, std::enable_if_t<std::is_integral<K>::value>> {
 public:
  K* data() { return reinterpret_cast<K*>(buf_.data()); }
  const K* data() const { return reinterpret_cast<const K*>(buf_.data()); }
  const K& operator[](size_t i) const { return data()[i]; }
  bool reserve(size_t n) { return buf_.reserve(n * sizeof(K)); }
  // Caller guarantees capacity (reserve) for row `i`.
  void set(size_t i, K key) { data()[i] = key; }
  void move_row(size_t from, size_t to) { data()[to] = data()[from]; }
  void destroy(size_t) {}
  void release_tail(size_t n) { buf_.release_tail(n * sizeof(K)); }
  void reset() { buf_.reset(); }
  size_t allocated_bytes() const { return buf_.capacity(); }
  static size_t heap_bytes(const K&) { return 0; }

 private:
  GrowableBuffer buf_;
};

template <>
class KeyStore<std::string, void> {
 public:
  std::string* data() { return keys_.data(); }
  const std::string* data() const { return keys_.data(); }
  const std::string& operator[](size_t i) const { return keys_[i]; }
  bool reserve(size_t n) {
    if (n > keys_.capacity()) {
      keys_.reserve(n + n / 2 > 16 ? n + n / 2 : 16);
    }
    return true;
  }
  void set(size_t i, std::string_view key) {
    if (i == keys_.size()) {
      keys_.emplace_back(key);
    } else {
      keys_[i].assign(key.data(), key.size());
    }
  }
  void move_row(size_t from, size_t to) { keys_[to] = std::move(keys_[from]); }
  // Rows are removed from the end only (dense storage), so destroying row i
  // means popping the last element.
  void destroy(size_t i) {
    if (i + 1 == keys_.size()) keys_.pop_back();
  }
  void release_tail(size_t n) {
    if (keys_.capacity() > 4 * (n + 16)) keys_.shrink_to_fit();
  }
  void reset() { std::vector<std::string>().swap(keys_); }
  size_t allocated_bytes() const {
    return keys_.capacity() * sizeof(std::string);
  }
  static size_t heap_bytes(const std::string& s) {
    return s.capacity() > 15 ? s.capacity() + 1 : 0;
  }

 private:
  std::vector<std::string> keys_;
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_KEY_STORE_H_

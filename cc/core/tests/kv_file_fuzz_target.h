// The table-file reader run over arbitrary bytes: the body of the libFuzzer
// target (kv_file_fuzz.cc, run by tests/core/test_kv_file_fuzz.py) and of
// the corpus replay in kv_file_test.cc (plain, TSan and ASan builds).
//
// Every key type reads the same bytes through the three entry points a
// kernel uses (Open + Verify, ReadAll, ReadRange in small chunks). Errors
// are expected; what must never happen is a crash, an out-of-bounds access
// (the sanitizers catch those), a loop that does not advance, or rows that
// disagree with what Open promised: those abort, which the fuzzer reports.
#ifndef TFRA_CC_CORE_TESTS_KV_FILE_FUZZ_TARGET_H_
#define TFRA_CC_CORE_TESTS_KV_FILE_FUZZ_TARGET_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cc/core/kv_file.h"

namespace tfra {
namespace core {
namespace fuzz {

class BytesSource : public ByteSource {
 public:
  BytesSource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t Size() const override { return size_; }
  Status Read(uint64_t offset, size_t n, char* dst) override {
    if (offset > size_ || n > size_ - offset) return DataLoss("short read");
    if (n > 0) std::memcpy(dst, data_ + offset, n);
    return Status::OK();
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

inline void Require(bool ok) {
  if (!ok) std::abort();
}

template <typename K>
size_t KeyBytes(const K&) { return sizeof(K); }
inline size_t KeyBytes(const std::string& k) { return 4 + k.size(); }
inline size_t KeyBytes(const std::string_view& k) { return 4 + k.size(); }

template <typename K>
void ReadAs(const uint8_t* data, size_t size) {
  BytesSource src(data, size);
  KvFileReader<K> reader(&src, "fuzz", 4096);
  if (!reader.Open().ok()) return;
  const KvFileHeader& h = reader.header();
  const uint64_t records = reader.records_end() - reader.FirstRecord();
  // What Open promises: every size derived from the header fits the file.
  Require(h.dim >= 1 && h.value_bytes >= 1 && h.value_bytes <= 16);
  Require(reader.count() == 0 || h.row_bytes() <= records);
  Require(reader.count() <= records);
  const bool verified = reader.Verify().ok();
  uint64_t rows = 0;
  uint64_t bytes = 0;
  volatile unsigned char sink = 0;
  const Status all = reader.ReadAll(
      [&](const typename KvFileReader<K>::Arg* keys, const char* values,
          size_t count) {
        for (size_t i = 0; i < count; ++i) bytes += KeyBytes(keys[i]);
        for (size_t i = 0; i < count * h.row_bytes(); ++i) sink ^= values[i];
        rows += count;
        return Status::OK();
      });
  Require(all.ok() == verified);
  if (verified) {
    Require(rows == reader.count());
    Require(bytes + rows * h.row_bytes() == records);
  }
  // Chunked reads walk the records whatever the checksum says.
  std::vector<K> keys;
  std::vector<char> values;
  uint64_t offset = reader.FirstRecord();
  uint64_t chunked = 0;
  while (offset < reader.records_end()) {
    uint64_t next = 0;
    if (!reader.ReadRange(offset, 7, &keys, &values, &next).ok()) break;
    Require(next > offset && next <= reader.records_end());
    Require(values.size() == keys.size() * h.row_bytes());
    chunked += keys.size();
    offset = next;
  }
  if (verified) Require(chunked == reader.count());
}

inline int ReadAllKeyKinds(const uint8_t* data, size_t size) {
  ReadAs<int32_t>(data, size);
  ReadAs<int64_t>(data, size);
  ReadAs<std::string>(data, size);
  return 0;
}

}  // namespace fuzz
}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_TESTS_KV_FILE_FUZZ_TARGET_H_

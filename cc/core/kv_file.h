// The table file format (save_to_file_system / load_from_file_system).
//
//   offset 0   header, 32 bytes, little-endian:
//              "TFRAKV01" | u32 format_version=1 | u32 key_kind |
//              u32 value_dtype | u32 value_bytes | i64 dim
//   offset 32  records, back to back:
//              int keys:    key (4 or 8 bytes)          | value row
//              string keys: u32 length | length bytes   | value row
//              (value row = dim * value_bytes raw bytes, host byte order)
//   end - 24   footer: u64 record_count | u32 crc32c(header + records) |
//              u32 zero | "TFRAEND1"
//
// The footer makes truncation and foreign files detectable before any row is
// applied: loading first verifies the whole file (structure, count, CRC) in a
// streaming pass, then applies it in a second pass. Both passes and the
// writer use buffers of `buffer_size` bytes, so extra memory is bounded by the
// buffer, not by the table. value_dtype is an opaque code chosen by the
// caller (the TF kernels store tensorflow::DataType).
#ifndef TFRA_CC_CORE_KV_FILE_H_
#define TFRA_CC_CORE_KV_FILE_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "cc/core/crc32c.h"
#include "cc/core/key_store.h"
#include "cc/core/status.h"

namespace tfra {
namespace core {

enum KeyKind : uint32_t { kKeyInt32 = 1, kKeyInt64 = 2, kKeyString = 3 };

template <typename K>
constexpr uint32_t KeyKindOf() {
  return std::is_same<K, std::string>::value ? kKeyString
         : sizeof(K) == 4                    ? kKeyInt32
                                             : kKeyInt64;
}

inline const char* KeyKindName(uint32_t kind) {
  switch (kind) {
    case kKeyInt32: return "int32";
    case kKeyInt64: return "int64";
    case kKeyString: return "string";
    default: return "unknown";
  }
}

struct KvFileHeader {
  uint32_t key_kind = 0;
  uint32_t value_dtype = 0;
  uint32_t value_bytes = 0;
  int64_t dim = 0;
  size_t row_bytes() const { return static_cast<size_t>(dim) * value_bytes; }
};

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status Append(const char* data, size_t n) = 0;
};

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t Size() const = 0;
  // Reads exactly n bytes at offset or fails.
  virtual Status Read(uint64_t offset, size_t n, char* dst) = 0;
};

namespace kvfile {
constexpr char kMagic[9] = "TFRAKV01";
constexpr char kEndMagic[9] = "TFRAEND1";
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 32;
constexpr size_t kFooterBytes = 24;
}  // namespace kvfile

// Streams rows into a ByteSink through a fixed-size buffer.
template <typename K>
class KvFileWriter {
 public:
  KvFileWriter(ByteSink* sink, const KvFileHeader& header, size_t buffer_size)
      : sink_(sink), header_(header) {
    buf_.reserve(buffer_size < 4096 ? 4096 : buffer_size);
  }

  Status Begin() {
    char h[kvfile::kHeaderBytes];
    std::memcpy(h, kvfile::kMagic, 8);
    Put32(h + 8, kvfile::kVersion);
    Put32(h + 12, header_.key_kind);
    Put32(h + 16, header_.value_dtype);
    Put32(h + 20, header_.value_bytes);
    int64_t dim = header_.dim;
    std::memcpy(h + 24, &dim, 8);
    return Add(h, sizeof(h));
  }

  Status Write(const K* keys, const char* values, size_t count) {
    const size_t rb = header_.row_bytes();
    for (size_t i = 0; i < count; ++i) {
      TFRA_CORE_RETURN_IF_ERROR(AddKey(keys[i]));
      TFRA_CORE_RETURN_IF_ERROR(Add(values + i * rb, rb));
    }
    count_ += count;
    return Status::OK();
  }

  Status Finish() {
    TFRA_CORE_RETURN_IF_ERROR(Flush());
    char f[kvfile::kFooterBytes];
    std::memcpy(f, &count_, 8);
    Put32(f + 8, crc_);
    Put32(f + 12, 0);
    std::memcpy(f + 16, kvfile::kEndMagic, 8);
    return sink_->Append(f, sizeof(f));
  }

  uint64_t count() const { return count_; }

 private:
  static void Put32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }

  Status AddKey(const std::string& key) {
    char len[4];
    Put32(len, static_cast<uint32_t>(key.size()));
    TFRA_CORE_RETURN_IF_ERROR(Add(len, 4));
    return Add(key.data(), key.size());
  }
  template <typename T>
  Status AddKey(const T& key) {
    return Add(reinterpret_cast<const char*>(&key), sizeof(T));
  }

  Status Add(const char* data, size_t n) {
    crc_ = Crc32c::Extend(crc_, data, n);
    if (buf_.size() + n > buf_.capacity()) TFRA_CORE_RETURN_IF_ERROR(Flush());
    if (n >= buf_.capacity()) return sink_->Append(data, n);
    buf_.insert(buf_.end(), data, data + n);
    return Status::OK();
  }

  Status Flush() {
    if (buf_.empty()) return Status::OK();
    Status s = sink_->Append(buf_.data(), buf_.size());
    buf_.clear();
    return s;
  }

  ByteSink* sink_;
  KvFileHeader header_;
  std::vector<char> buf_;
  uint32_t crc_ = 0;
  uint64_t count_ = 0;
};

// Reads a table file: Open() checks header and footer, Verify() streams the
// records checking structure, count and CRC, ReadAll() hands out chunks of
// decoded rows. `name` (the path) appears in every error message.
template <typename K>
class KvFileReader {
 public:
  using Arg = KeyArg<K>;
  using ChunkFn =
      std::function<Status(const Arg* keys, const char* values, size_t count)>;

  KvFileReader(ByteSource* src, std::string name, size_t buffer_size)
      : src_(src), name_(std::move(name)),
        buffer_size_(buffer_size < 4096 ? 4096 : buffer_size) {}

  const KvFileHeader& header() const { return header_; }
  uint64_t count() const { return count_; }

  Status Open() {
    const uint64_t size = src_->Size();
    if (size < kvfile::kHeaderBytes + kvfile::kFooterBytes) {
      return DataLoss(Describe("is too short to be a table file (" +
                               std::to_string(size) + " bytes); truncated?"));
    }
    char h[kvfile::kHeaderBytes];
    TFRA_CORE_RETURN_IF_ERROR(src_->Read(0, sizeof(h), h));
    if (std::memcmp(h, kvfile::kMagic, 8) != 0) {
      return DataLoss(Describe("is not a TFRA table file (bad magic)"));
    }
    if (Get32(h + 8) != kvfile::kVersion) {
      return DataLoss(Describe("has unsupported format version " +
                               std::to_string(Get32(h + 8))));
    }
    header_.key_kind = Get32(h + 12);
    header_.value_dtype = Get32(h + 16);
    header_.value_bytes = Get32(h + 20);
    std::memcpy(&header_.dim, h + 24, 8);
    if (header_.key_kind != kKeyInt32 && header_.key_kind != kKeyInt64 &&
        header_.key_kind != kKeyString) {
      return DataLoss(Describe("has a corrupt header: key kind " +
                               std::to_string(header_.key_kind) +
                               " is not int32 (1), int64 (2) or string (3)"));
    }
    if (header_.key_kind != KeyKindOf<K>()) {
      return Status(Code::kInvalidArgument,
                    Describe(std::string("holds ") +
                             KeyKindName(header_.key_kind) +
                             " keys but the table's key dtype is " +
                             KeyKindName(KeyKindOf<K>())));
    }
    char f[kvfile::kFooterBytes];
    TFRA_CORE_RETURN_IF_ERROR(src_->Read(size - sizeof(f), sizeof(f), f));
    if (std::memcmp(f + 16, kvfile::kEndMagic, 8) != 0) {
      return DataLoss(Describe("has no valid footer; the file is truncated "
                               "or was not completely written"));
    }
    std::memcpy(&count_, f, 8);
    expected_crc_ = Get32(f + 8);
    records_end_ = size - kvfile::kFooterBytes;
    return CheckShape();
  }

  Status Verify() {
    return Scan(nullptr);
  }

  Status ReadAll(const ChunkFn& fn) { return Scan(&fn); }

  // Byte offset of the first record and one past the last: the range that
  // ReadRange walks.
  static constexpr uint64_t FirstRecord() { return kvfile::kHeaderBytes; }
  uint64_t records_end() const { return records_end_; }

  // Decodes up to `max_rows` records starting at byte `offset` (a record
  // boundary: FirstRecord() or a `next_offset` returned earlier) into `keys`
  // and `values` (resized to the rows read) and sets `next_offset`; at
  // records_end() the read is complete. Only structure is checked here: the
  // checksum covers the whole file, so callers Verify() first. Lets a caller
  // stream a file in bounded chunks across separate calls (one op call per
  // chunk) without keeping a reader alive in between.
  Status ReadRange(uint64_t offset, size_t max_rows, std::vector<K>* keys,
                   std::vector<char>* values, uint64_t* next_offset) {
    if (offset < FirstRecord() || offset > records_end_) {
      return Status(Code::kInvalidArgument,
                    Describe("has no record at offset " +
                             std::to_string(offset)));
    }
    offset_ = offset;
    buf_.clear();
    pos_ = 0;
    const size_t rb = header_.row_bytes();
    keys->clear();
    values->clear();
    while (keys->size() < max_rows && offset_ - (buf_.size() - pos_) <
                                          records_end_) {
      keys->emplace_back();
      TFRA_CORE_RETURN_IF_ERROR(TakeKey(&keys->back()));
      values->resize(values->size() + rb);
      TFRA_CORE_RETURN_IF_ERROR(Take(values->data() + values->size() - rb, rb));
    }
    *next_offset = offset_ - (buf_.size() - pos_);
    return Status::OK();
  }

 private:
  static uint32_t Get32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  std::string Describe(const std::string& what) const {
    return "table file '" + name_ + "' " + what;
  }

  // The header and footer fields checked against each other and against the
  // file size, before any buffer is sized from them: the CRC is only known
  // after a full pass, and a file with a valid CRC can still carry fields
  // that disagree (a writer bug, a hand-made file). Every later size
  // computation (row_bytes, count * record size) is bounded by the file
  // size here, so none overflows. value_bytes against the value dtype is the
  // caller's check (the dtype code is opaque here).
  Status CheckShape() {
    const uint32_t vb = header_.value_bytes;
    if (vb != 1 && vb != 2 && vb != 4 && vb != 8 && vb != 16) {
      return DataLoss(Describe("has a corrupt header: value_bytes " +
                               std::to_string(vb) +
                               " is not 1, 2, 4, 8 or 16"));
    }
    if (header_.dim < 1) {
      return DataLoss(Describe("has a corrupt header: dim " +
                               std::to_string(header_.dim) + " < 1"));
    }
    const uint64_t body = records_end_ - kvfile::kHeaderBytes;
    if (count_ == 0) {
      if (body != 0) {
        return DataLoss(Describe("has a corrupt header or footer: 0 records "
                                 "but " +
                                 std::to_string(body) + " record bytes"));
      }
      return Status::OK();
    }
    // One row of dim * value_bytes must fit in the records.
    if (static_cast<uint64_t>(header_.dim) > body / vb) {
      return DataLoss(Describe("has a corrupt header: rows of dim " +
                               std::to_string(header_.dim) + " x " +
                               std::to_string(vb) + " bytes exceed the " +
                               std::to_string(body) + " record bytes"));
    }
    const uint64_t min_record =
        header_.row_bytes() + (std::is_same<K, std::string>::value
                                   ? 4
                                   : sizeof(K));
    const bool exact = !std::is_same<K, std::string>::value;
    if (count_ > body / min_record ||
        (exact && count_ * min_record != body)) {
      return DataLoss(Describe(
          "has a corrupt header or footer: " + std::to_string(count_) +
          " records of " + (exact ? "" : "at least ") +
          std::to_string(min_record) + " bytes do not fill the " +
          std::to_string(body) + " record bytes"));
    }
    return Status::OK();
  }

  // Sequential buffered reads over [header end, records_end_).
  Status Take(char* dst, size_t n) {
    while (n > 0) {
      if (pos_ == buf_.size()) {
        const uint64_t left = records_end_ - offset_;
        if (left == 0) {
          return DataLoss(Describe("ends in the middle of a record; truncated "
                                   "or corrupt"));
        }
        const size_t want = left < buffer_size_ ? left : buffer_size_;
        buf_.resize(want);
        TFRA_CORE_RETURN_IF_ERROR(src_->Read(offset_, want, buf_.data()));
        crc_ = Crc32c::Extend(crc_, buf_.data(), want);
        offset_ += want;
        pos_ = 0;
      }
      const size_t k = std::min(n, buf_.size() - pos_);
      std::memcpy(dst, buf_.data() + pos_, k);
      pos_ += k;
      dst += k;
      n -= k;
    }
    return Status::OK();
  }

  Status Scan(const ChunkFn* fn) {
    char h[kvfile::kHeaderBytes];
    TFRA_CORE_RETURN_IF_ERROR(src_->Read(0, sizeof(h), h));
    crc_ = Crc32c::Extend(0, h, sizeof(h));
    offset_ = kvfile::kHeaderBytes;
    buf_.clear();
    pos_ = 0;
    const size_t rb = header_.row_bytes();
    const size_t key_guess = std::is_same<K, std::string>::value ? 24 : sizeof(K);
    // Never more rows than the file holds: an empty file's dim is bounded by
    // nothing, so its chunk must not be sized from it.
    const size_t chunk_rows = static_cast<size_t>(std::min<uint64_t>(
        count_, std::max<size_t>(1, buffer_size_ / (rb + key_guess))));
    std::vector<K> keys;
    std::vector<char> values;
    if (fn != nullptr && chunk_rows > 0) {
      keys.resize(chunk_rows);
      values.resize(chunk_rows * rb);
    }
    size_t filled = 0;
    for (uint64_t i = 0; i < count_; ++i) {
      K key_tmp;
      K& key = fn != nullptr ? keys[filled] : key_tmp;
      TFRA_CORE_RETURN_IF_ERROR(TakeKey(&key));
      char* dst = fn != nullptr ? values.data() + filled * rb : nullptr;
      if (dst != nullptr) {
        TFRA_CORE_RETURN_IF_ERROR(Take(dst, rb));
      } else {
        TFRA_CORE_RETURN_IF_ERROR(Skip(rb));
      }
      if (fn != nullptr && ++filled == chunk_rows) {
        TFRA_CORE_RETURN_IF_ERROR(Emit(*fn, keys, values, filled));
        filled = 0;
      }
    }
    if (fn != nullptr && filled > 0) {
      TFRA_CORE_RETURN_IF_ERROR(Emit(*fn, keys, values, filled));
    }
    if (offset_ != records_end_ || pos_ != buf_.size()) {
      return DataLoss(Describe("has trailing bytes after " +
                               std::to_string(count_) + " records; corrupt"));
    }
    if (crc_ != expected_crc_) {
      return DataLoss(Describe("fails its checksum; the file is corrupt"));
    }
    return Status::OK();
  }

  Status Skip(size_t n) {
    char tmp[256];
    while (n > 0) {
      const size_t k = n < sizeof(tmp) ? n : sizeof(tmp);
      TFRA_CORE_RETURN_IF_ERROR(Take(tmp, k));
      n -= k;
    }
    return Status::OK();
  }

  Status TakeKey(std::string* key) {
    char len[4];
    TFRA_CORE_RETURN_IF_ERROR(Take(len, 4));
    const uint32_t n = Get32(len);
    if (n > records_end_ - offset_ + (buf_.size() - pos_)) {
      return DataLoss(Describe("has a string key longer than the file; "
                               "corrupt"));
    }
    key->resize(n);
    return Take(&(*key)[0], n);
  }
  template <typename T>
  Status TakeKey(T* key) {
    return Take(reinterpret_cast<char*>(key), sizeof(T));
  }

  // Integer keys are their own argument type and pass as they are; string
  // keys are viewed as string_views.
  static Status Emit(const ChunkFn& fn, const std::vector<K>& keys,
                     const std::vector<char>& values, size_t count) {
    if constexpr (std::is_same<Arg, K>::value) {
      return fn(keys.data(), values.data(), count);
    } else {
      std::vector<Arg> args(keys.begin(), keys.begin() + count);
      return fn(args.data(), values.data(), count);
    }
  }

  ByteSource* src_;
  std::string name_;
  size_t buffer_size_;
  KvFileHeader header_;
  uint64_t count_ = 0;
  uint32_t expected_crc_ = 0;
  uint64_t records_end_ = 0;
  uint64_t offset_ = 0;
  std::vector<char> buf_;
  size_t pos_ = 0;
  uint32_t crc_ = 0;
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_KV_FILE_H_

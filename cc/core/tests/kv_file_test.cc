// The table-file reader refuses headers whose fields disagree with each other
// or with the file size, before sizing any buffer from them; and the fuzz
// corpus (kv_file_fuzz_corpus/, found through TFRA_KV_FUZZ_CORPUS) replays
// cleanly through the fuzz target's body in every build.
#include <dirent.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cc/core/kv_file.h"
#include "cc/core/tests/kv_file_fuzz_target.h"
#include "gtest/gtest.h"

namespace tfra {
namespace core {
namespace {

struct Sink : ByteSink {
  std::string data;
  Status Append(const char* d, size_t n) override {
    data.append(d, n);
    return Status::OK();
  }
};

// A valid file of `n` int64 keys with float rows of `dim`.
std::string Int64File(int n, int64_t dim) {
  Sink sink;
  KvFileHeader h;
  h.key_kind = kKeyInt64;
  h.value_dtype = 1;
  h.value_bytes = 4;
  h.dim = dim;
  KvFileWriter<int64_t> w(&sink, h, 64);
  std::vector<int64_t> keys(n);
  std::vector<float> vals(n * dim, 1.5f);
  for (int i = 0; i < n; ++i) keys[i] = i * 7;
  EXPECT_TRUE(w.Begin().ok());
  EXPECT_TRUE(w.Write(keys.data(), reinterpret_cast<const char*>(vals.data()),
                      keys.size()).ok());
  EXPECT_TRUE(w.Finish().ok());
  return sink.data;
}

// Overwrites `n` bytes at `offset` (header fields; the footer count is at
// size - 24) and re-signs the file with a valid CRC, so only the field
// cross-checks can refuse it.
std::string Patch(std::string file, size_t offset, const void* v, size_t n) {
  std::memcpy(&file[offset], v, n);
  const size_t body = file.size() - kvfile::kFooterBytes;
  const uint32_t crc = Crc32c::Extend(0, file.data(), body);
  std::memcpy(&file[body + 8], &crc, 4);
  return file;
}

template <typename K>
Status OpenAs(const std::string& file) {
  fuzz::BytesSource src(reinterpret_cast<const uint8_t*>(file.data()),
                        file.size());
  KvFileReader<K> r(&src, "patched", 4096);
  return r.Open();
}

struct BadField {
  const char* name;
  size_t offset;  // from the start; >= 1000 means from the footer's start
  int64_t value;
  size_t width;
  const char* fragment;
};

class RefusesDisagreeingFields : public ::testing::TestWithParam<BadField> {};

TEST_P(RefusesDisagreeingFields, BeforeAnyRowIsRead) {
  const BadField& f = GetParam();
  const std::string good = Int64File(10, 3);
  ASSERT_TRUE(OpenAs<int64_t>(good).ok());
  const size_t at = f.offset >= 1000
                        ? good.size() - kvfile::kFooterBytes + f.offset - 1000
                        : f.offset;
  const std::string bad = Patch(good, at, &f.value, f.width);
  const Status s = OpenAs<int64_t>(bad);
  EXPECT_EQ(s.code(), Code::kDataLoss) << s.message();
  EXPECT_NE(s.message().find(f.fragment), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("corrupt"), std::string::npos) << s.message();
}

INSTANTIATE_TEST_SUITE_P(
    KvFile, RefusesDisagreeingFields,
    ::testing::Values(
        BadField{"KeyKind", 12, 9, 4, "key kind 9"},
        BadField{"ValueBytesOdd", 20, 3, 4, "value_bytes 3"},
        BadField{"ValueBytesHuge", 20, 1 << 20, 4, "value_bytes 1048576"},
        BadField{"DimZero", 24, 0, 8, "dim 0"},
        BadField{"DimHuge", 24, int64_t{1} << 62, 8, "rows of dim"},
        BadField{"DimWider", 24, 4, 8, "records of"},
        BadField{"CountMore", 1000, 11, 8, "11 records of"},
        BadField{"CountLess", 1000, 9, 8, "9 records of"},
        BadField{"CountZero", 1000, 0, 8, "0 records"},
        BadField{"CountHuge", 1000, int64_t{1} << 61, 8, "records of"}),
    [](const ::testing::TestParamInfo<BadField>& info) {
      return std::string(info.param.name);
    });

TEST(KvFile, StringKeyCountBeyondTheSmallestRecordsIsRefused) {
  // String records are at least 4 + row bytes: a count that cannot fit is
  // refused at Open, one that can is left to the verify pass.
  Sink sink;
  KvFileHeader h;
  h.key_kind = kKeyString;
  h.value_dtype = 1;
  h.value_bytes = 4;
  h.dim = 1;
  KvFileWriter<std::string> w(&sink, h, 64);
  const std::vector<std::string> keys = {"a", "bb", "ccc"};
  const float vals[3] = {1, 2, 3};
  ASSERT_TRUE(w.Begin().ok());
  ASSERT_TRUE(w.Write(keys.data(), reinterpret_cast<const char*>(vals), 3).ok());
  ASSERT_TRUE(w.Finish().ok());
  const size_t count_at = sink.data.size() - kvfile::kFooterBytes;
  // 3 records use 4 * 3 + 6 + 12 = 30 bytes: 3 fit, 4 would need >= 32.
  const uint64_t four = 4;
  EXPECT_EQ(OpenAs<std::string>(Patch(sink.data, count_at, &four, 8)).code(),
            Code::kDataLoss);
  const uint64_t three = 3;
  EXPECT_TRUE(OpenAs<std::string>(Patch(sink.data, count_at, &three, 8)).ok());
}

TEST(KvFile, FuzzCorpusReplays) {
  const char* dir = std::getenv("TFRA_KV_FUZZ_CORPUS");
  ASSERT_NE(dir, nullptr) << "set TFRA_KV_FUZZ_CORPUS to the corpus folder";
  DIR* d = opendir(dir);
  ASSERT_NE(d, nullptr) << dir;
  int files = 0;
  for (dirent* e = readdir(d); e != nullptr; e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string(dir) + "/" + e->d_name, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string data = bytes.str();
    fuzz::ReadAllKeyKinds(reinterpret_cast<const uint8_t*>(data.data()),
                          data.size());
    ++files;
  }
  closedir(d);
  EXPECT_GE(files, 5);
}

}  // namespace
}  // namespace core
}  // namespace tfra

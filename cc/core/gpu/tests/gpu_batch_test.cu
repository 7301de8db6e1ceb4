// Host-reference tests of the device batch ops (cc/core/gpu/gpu_batch.h):
// UniqueKeys against a first-seen-order dedup with std::unordered_map, and
// SegmentSumRows against host sums, for every supported type, plus empty
// batches and out-of-range segment ids (an error, output untouched).
//
//   nvcc -std=c++17 -O2 -I<repo> cc/core/gpu/gpu_batch.cu \
//        cc/core/gpu/gpu_hash_table.cu cc/core/gpu/tests/gpu_batch_test.cu
//   ./a.out                     # exit 0 passed, 1 failed, 77 no GPU
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "cc/core/gpu/gpu_batch.h"
#include "cc/core/gpu/gpu_hash_table.h"
#include "cc/core/gpu/tests/test_util.cuh"

namespace tg = ::tfra::core::gpu;
using ::tfra::core::Code;
using ::tfra::core::ValueType;

namespace {

// Ids with heavy duplication (a few hot ids, a long tail), both signs.
template <typename K>
std::vector<K> SkewedKeys(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<K> keys(n);
  for (auto& k : keys) {
    const uint64_t r = rng();
    const int64_t v = (r & 3) == 0 ? static_cast<int64_t>(r >> 40)
                                   : static_cast<int64_t>((r >> 8) % 17);
    k = static_cast<K>((r & 16) ? -v : v);
  }
  return keys;
}

template <typename K>
void TestUnique(size_t n, uint64_t seed) {
  const std::vector<K> keys = SkewedKeys<K>(n, seed);
  std::vector<K> want_unique;
  std::vector<int32_t> want_idx(n);
  std::unordered_map<K, int32_t> rank;
  for (size_t i = 0; i < n; ++i) {
    auto it = rank.emplace(keys[i], static_cast<int32_t>(want_unique.size()));
    if (it.second) want_unique.push_back(keys[i]);
    want_idx[i] = it.first->second;
  }
  cudaStream_t stream;
  Cuda(cudaStreamCreate(&stream));
  Dev<K> d_keys(keys);
  Dev<K> d_unique(n);
  Dev<int32_t> d_idx(n);
  const size_t bytes = tg::UniqueScratchBytes<K>(n);
  Dev<char> scratch(bytes);
  size_t count = 12345;
  const Status s = tg::UniqueKeys<K>(stream, d_keys.ptr, n, scratch.ptr, bytes,
                                     d_unique.ptr, d_idx.ptr, &count);
  cudaStreamDestroy(stream);
  CHECK_OK(s);
  CHECK_TRUE(count == want_unique.size(), "count %zu, want %zu", count,
             want_unique.size());
  std::vector<K> got = d_unique.Host();
  got.resize(count);
  CHECK_TRUE(got == want_unique, "unique keys differ (n=%zu)", n);
  CHECK_TRUE(n == 0 || d_idx.Host() == want_idx, "idx differs (n=%zu)", n);
}

void TestUniqueScratchTooSmall() {
  Dev<int64_t> keys(std::vector<int64_t>{1, 2, 1});
  Dev<int64_t> unique(3);
  Dev<int32_t> idx(3);
  Dev<char> scratch(16);
  size_t count = 0;
  const Status s = tg::UniqueKeys<int64_t>(nullptr, keys.ptr, 3, scratch.ptr,
                                           16, unique.ptr, idx.ptr, &count);
  CHECK_TRUE(s.code() == Code::kInvalidArgument, "%s", s.message().c_str());
}

float ToHost(float v) { return v; }
double ToHost(double v) { return v; }
float ToHost(__half v) { return __half2float(v); }
float ToHost(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T>
T FromHost(double v) {
  if constexpr (std::is_same<T, __half>::value) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same<T, __nv_bfloat16>::value) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

// Sums n rows of `width` into `segments` rows; tolerance relative to the
// type's precision (the device adds in no fixed order).
template <typename T>
void TestSegmentSum(ValueType type, size_t n, int64_t width, int64_t segments,
                    double rel_tol) {
  std::mt19937 rng(static_cast<uint32_t>(n * 31 + width));
  std::uniform_real_distribution<double> value(-2.0, 2.0);
  std::vector<T> data(n * width);
  std::vector<int32_t> ids(n);
  for (auto& v : data) v = FromHost<T>(value(rng));
  // Segment numbers skew like first-seen ranks: small ones are hot.
  for (auto& id : ids) {
    id = static_cast<int32_t>((rng() % 4 == 0 ? rng() : rng() % 5) % segments);
  }
  std::vector<double> want(segments * width, 0.0), magnitude(want.size(), 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < width; ++j) {
      want[ids[i] * width + j] += ToHost(data[i * width + j]);
      magnitude[ids[i] * width + j] += std::fabs(ToHost(data[i * width + j]));
    }
  }
  Dev<T> d_data(data);
  Dev<int32_t> d_ids(ids);
  Dev<T> d_out(static_cast<size_t>(segments * width));
  const size_t bytes = tg::SegmentSumScratchBytes(type, segments, width);
  Dev<char> scratch(bytes);
  CHECK_OK(tg::SegmentSumRows(nullptr, type, d_data.ptr, d_ids.ptr, n, width,
                              segments, scratch.ptr, bytes, d_out.ptr));
  Cuda(cudaDeviceSynchronize());
  const std::vector<T> got = d_out.Host();
  for (size_t e = 0; e < want.size(); ++e) {
    const double err = std::fabs(ToHost(got[e]) - want[e]);
    CHECK_TRUE(err <= rel_tol * (magnitude[e] + 1e-30) + 1e-12,
               "element %zu: got %g, want %g", e, ToHost(got[e]), want[e]);
  }
}

void TestSegmentSumBadIdChangesNothing() {
  const std::vector<float> data = {1, 2, 3, 4, 5, 6};
  const std::vector<int32_t> ids = {0, 3, 1};  // 3 is outside [0, 2)
  Dev<float> d_data(data);
  Dev<int32_t> d_ids(ids);
  Dev<float> d_out(std::vector<float>{-7, -7, -7, -7});
  const size_t bytes = tg::SegmentSumScratchBytes(ValueType::kFloat32, 2, 2);
  Dev<char> scratch(bytes);
  const Status s = tg::SegmentSumRows(nullptr, ValueType::kFloat32, d_data.ptr,
                                      d_ids.ptr, 3, 2, 2, scratch.ptr, bytes,
                                      d_out.ptr);
  CHECK_TRUE(s.code() == Code::kInvalidArgument, "%s", s.message().c_str());
  CHECK_TRUE(s.message().find("segment_ids: id 3 at position 1") !=
                 std::string::npos,
             "%s", s.message().c_str());
  CHECK_TRUE(d_out.Host() == std::vector<float>(4, -7), "output was written");
}

void TestSegmentSumRefusesIntegerRows() {
  Dev<char> scratch(1024);
  const Status s = tg::SegmentSumRows(nullptr, ValueType::kInt32, nullptr,
                                      nullptr, 0, 1, 1, scratch.ptr, 1024,
                                      nullptr);
  CHECK_TRUE(s.code() == Code::kInvalidArgument, "%s", s.message().c_str());
}

}  // namespace

int main() {
  if (SkipWithoutGpu()) return 77;
  RUN(TestUnique<int64_t>(0, 1));
  RUN(TestUnique<int64_t>(1, 2));
  RUN(TestUnique<int64_t>(7, 3));
  RUN(TestUnique<int64_t>(1000, 4));
  RUN(TestUnique<int64_t>(1 << 17, 5));
  RUN(TestUnique<int32_t>(1000, 6));
  RUN(TestUnique<int32_t>(1 << 17, 7));
  RUN(TestUniqueScratchTooSmall());
  RUN(TestSegmentSum<float>(ValueType::kFloat32, 1000, 8, 40, 1e-6));
  RUN(TestSegmentSum<float>(ValueType::kFloat32, 1 << 15, 32, 3000, 1e-6));
  RUN(TestSegmentSum<double>(ValueType::kFloat64, 1000, 3, 50, 1e-12));
  RUN(TestSegmentSum<__half>(ValueType::kFloat16, 1000, 16, 40, 2e-3));
  RUN(TestSegmentSum<__nv_bfloat16>(ValueType::kBFloat16, 1000, 16, 40, 1e-2));
  RUN(TestSegmentSum<float>(ValueType::kFloat32, 0, 4, 3, 0));
  RUN(TestSegmentSum<float>(ValueType::kFloat32, 0, 4, 0, 0));
  RUN(TestSegmentSumBadIdChangesNothing());
  RUN(TestSegmentSumRefusesIntegerRows());
  return Finish();
}

// value_type.h: the row arithmetic accum uses, checked against references
// (the compiler's IEEE _Float16 for float16; exact double arithmetic for
// bfloat16's round-to-nearest-even), over every 16-bit pattern where that
// is cheap.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "cc/core/value_type.h"
#include "gtest/gtest.h"

namespace tfra {
namespace core {
namespace {

bool IsHalfNaN(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

TEST(ValueType, HalfToFloatMatchesTheCompilerForEveryPattern) {
  for (uint32_t h = 0; h < 65536; ++h) {
    _Float16 ref;
    const uint16_t bits = static_cast<uint16_t>(h);
    std::memcpy(&ref, &bits, 2);
    const float got = HalfToFloat(bits);
    if (IsHalfNaN(bits)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      EXPECT_EQ(FloatBits(got), FloatBits(static_cast<float>(ref))) << h;
    }
  }
}

TEST(ValueType, FloatToHalfRoundsToNearestEvenLikeTheCompiler) {
  // Every half, the midpoints between neighbours (ties), and points just
  // off them, plus overflow and subnormal edges.
  std::vector<float> probes = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f,
                               1e9f, -1e9f, 5.96e-8f, 2.98e-8f, 2.97e-8f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity()};
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const float a = HalfToFloat(static_cast<uint16_t>(h));
    const float b = HalfToFloat(static_cast<uint16_t>(h + 1));
    const float mid = static_cast<float>((static_cast<double>(a) + b) / 2);
    probes.push_back(a);
    probes.push_back(-a);
    probes.push_back(mid);
    probes.push_back(std::nextafter(mid, 0.0f));
    probes.push_back(std::nextafter(mid, 1e9f));
  }
  for (float f : probes) {
    const _Float16 ref = static_cast<_Float16>(f);
    uint16_t ref_bits;
    std::memcpy(&ref_bits, &ref, 2);
    ASSERT_EQ(FloatToHalf(f), ref_bits) << f;
  }
  EXPECT_TRUE(IsHalfNaN(FloatToHalf(std::nanf(""))));
}

// bfloat16 round-to-nearest-even, computed in double: the two neighbours
// by truncation, the nearer one, ties to the even mantissa.
uint16_t ReferenceBFloat16(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t lo = static_cast<uint16_t>(u >> 16);
  const uint16_t hi = static_cast<uint16_t>(lo + 1);
  const double x = std::fabs(static_cast<double>(f));
  const double dlo = std::fabs(static_cast<double>(BFloat16ToFloat(lo)));
  const double dhi = std::fabs(static_cast<double>(BFloat16ToFloat(hi)));
  if ((u & 0xffff) == 0) return lo;
  if (x - dlo < dhi - x) return lo;
  if (x - dlo > dhi - x) return hi;
  return (lo & 1) ? hi : lo;
}

TEST(ValueType, FloatToBFloat16RoundsToNearestEven) {
  std::vector<float> probes;
  for (uint32_t b = 0; b < 0x7f7f; b += 3) {
    for (uint32_t low : {0u, 1u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) {
      probes.push_back(BitsFloat((b << 16) | low));
      probes.push_back(-BitsFloat((b << 16) | low));
    }
  }
  for (float f : probes) ASSERT_EQ(FloatToBFloat16(f), ReferenceBFloat16(f)) << f;
  EXPECT_EQ(FloatToBFloat16(std::nanf("")) & 0x7fc0, 0x7fc0);
  EXPECT_EQ(FloatToBFloat16(3.4e38f), 0x7f80);  // rounds up to infinity
}

template <typename T>
std::vector<T> Add(ValueType t, std::vector<T> a, const std::vector<T>& b) {
  HostAccumFn(t)(reinterpret_cast<char*>(a.data()),
                 reinterpret_cast<const char*>(b.data()),
                 static_cast<int64_t>(a.size()));
  return a;
}

TEST(ValueType, AccumAddsEachType) {
  EXPECT_EQ(Add<float>(ValueType::kFloat32, {1.5f, -2}, {0.25f, 2}),
            (std::vector<float>{1.75f, 0}));
  EXPECT_EQ(Add<double>(ValueType::kFloat64, {1e300, 1}, {1e300, 2}),
            (std::vector<double>{2e300, 3}));
  EXPECT_EQ(Add<int32_t>(ValueType::kInt32, {INT32_MAX, 5}, {1, -7}),
            (std::vector<int32_t>{INT32_MIN, -2}));  // wraps
  EXPECT_EQ(Add<int8_t>(ValueType::kInt8, {127, -3}, {1, 1}),
            (std::vector<int8_t>{-128, -2}));
  EXPECT_EQ(Add<int64_t>(ValueType::kInt64, {INT64_MAX, 0}, {1, -1}),
            (std::vector<int64_t>{INT64_MIN, -1}));
  EXPECT_EQ(Add<uint8_t>(ValueType::kBool, {0, 1, 0, 1}, {0, 0, 1, 1}),
            (std::vector<uint8_t>{0, 1, 1, 1}));
  // half: 2048 + 1 is not representable, rounds to even (2048).
  const auto h = Add<uint16_t>(ValueType::kFloat16,
                               {FloatToHalf(2048), FloatToHalf(0.5f)},
                               {FloatToHalf(1), FloatToHalf(0.25f)});
  EXPECT_EQ(HalfToFloat(h[0]), 2048.0f);
  EXPECT_EQ(HalfToFloat(h[1]), 0.75f);
  const auto bf = Add<uint16_t>(ValueType::kBFloat16,
                                {FloatToBFloat16(256), FloatToBFloat16(1)},
                                {FloatToBFloat16(1), FloatToBFloat16(2)});
  EXPECT_EQ(BFloat16ToFloat(bf[0]), 256.0f);  // 257 ties to even
  EXPECT_EQ(BFloat16ToFloat(bf[1]), 3.0f);
}

TEST(ValueType, SizesAndNames) {
  EXPECT_EQ(ValueTypeSize(ValueType::kFloat16), 2u);
  EXPECT_EQ(ValueTypeSize(ValueType::kFloat64), 8u);
  EXPECT_EQ(ValueTypeSize(ValueType::kBool), 1u);
  EXPECT_STREQ(ValueTypeName(ValueType::kBFloat16), "bfloat16");
  EXPECT_FALSE(ValidValueType(static_cast<ValueType>(99)));
}

}  // namespace
}  // namespace core
}  // namespace tfra

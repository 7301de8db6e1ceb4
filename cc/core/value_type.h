// Value dtypes of table rows, and the row arithmetic accum needs.
//
// A table stores rows as opaque bytes (dim elements of one ValueType); the
// only arithmetic any backend does on them is accum's element-wise add,
// chosen here by the ValueType enum so that every backend (host loop, a CUDA
// kernel, a remote store's script) can implement the same numbers without a
// host function pointer crossing the seam.
//
// Numerics of the add, matching TensorFlow's element types exactly:
//   float32/float64/int8/int32/int64  the type's own +, integers wrapping
//                                     as two's complement (int8 + int8 is
//                                     computed in int and truncated)
//   float16, bfloat16                 widened to float32, added, rounded
//                                     back to nearest-even (Eigen::half and
//                                     Eigen::bfloat16 do the same)
//   bool                              logical OR (a saturating add)
#ifndef TFRA_CC_CORE_VALUE_TYPE_H_
#define TFRA_CC_CORE_VALUE_TYPE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace tfra {
namespace core {

enum class ValueType : int32_t {
  kFloat32 = 0,
  kFloat16,
  kBFloat16,
  kFloat64,
  kInt8,
  kInt32,
  kInt64,
  kBool,
};

inline size_t ValueTypeSize(ValueType t) {
  switch (t) {
    case ValueType::kFloat16:
    case ValueType::kBFloat16: return 2;
    case ValueType::kFloat64:
    case ValueType::kInt64: return 8;
    case ValueType::kInt8:
    case ValueType::kBool: return 1;
    default: return 4;
  }
}

inline const char* ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kFloat32: return "float32";
    case ValueType::kFloat16: return "float16";
    case ValueType::kBFloat16: return "bfloat16";
    case ValueType::kFloat64: return "float64";
    case ValueType::kInt8: return "int8";
    case ValueType::kInt32: return "int32";
    case ValueType::kInt64: return "int64";
    case ValueType::kBool: return "bool";
  }
  return "unknown";
}

inline bool ValidValueType(ValueType t) {
  return static_cast<int32_t>(t) >= 0 &&
         static_cast<int32_t>(t) <= static_cast<int32_t>(ValueType::kBool);
}

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE binary16 <-> float, round to nearest even. Exponents are rebased by
// adding (127 - 15) << 23; subnormal halves go through a float "magic"
// subtraction that lets the FPU normalise them.
inline float HalfToFloat(uint16_t h) {
  const uint32_t shifted_exp = 0x7c00u << 13;
  uint32_t u = (static_cast<uint32_t>(h) & 0x7fffu) << 13;
  const uint32_t exp = shifted_exp & u;
  u += (127u - 15u) << 23;
  if (exp == shifted_exp) {
    u += (128u - 16u) << 23;  // Inf / NaN
  } else if (exp == 0) {
    u += 1u << 23;  // zero / subnormal
    u = FloatBits(BitsFloat(u) - BitsFloat(113u << 23));
  }
  return BitsFloat(u | ((static_cast<uint32_t>(h) & 0x8000u) << 16));
}

inline uint16_t FloatToHalf(float f) {
  uint32_t u = FloatBits(f);
  const uint32_t sign = (u & 0x80000000u) >> 16;
  u &= 0x7fffffffu;
  uint16_t out;
  if (u >= (127u + 16u) << 23) {  // overflow, Inf or NaN
    out = u > (255u << 23) ? 0x7e00 : 0x7c00;
  } else if (u < 113u << 23) {  // becomes a half subnormal (or zero)
    // Adding 0.5 (as the magic float) aligns the mantissa so the FPU's own
    // round-to-nearest-even does the rounding.
    const uint32_t magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    out = static_cast<uint16_t>(FloatBits(BitsFloat(u) + BitsFloat(magic)) -
                                magic);
  } else {
    const uint32_t mant_odd = (u >> 13) & 1u;
    u += ((15u - 127u) << 23) + 0xfffu + mant_odd;  // rebias and round
    out = static_cast<uint16_t>(u >> 13);
  }
  return static_cast<uint16_t>(out | sign);
}

inline float BFloat16ToFloat(uint16_t b) {
  return BitsFloat(static_cast<uint32_t>(b) << 16);
}

inline uint16_t FloatToBFloat16(float f) {
  const uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: quiet, sign kept
    return (u & 0x80000000u) ? 0xffc0 : 0x7fc0;
  }
  const uint32_t lsb = (u >> 16) & 1u;
  return static_cast<uint16_t>((u + 0x7fffu + lsb) >> 16);
}

// Adds `dim` elements of a delta row to a destination row.
using RowAccumFn = void (*)(char* dst, const char* delta, int64_t dim);

namespace value_type_internal {

template <typename T>
void AddPlain(char* dst, const char* delta, int64_t dim) {
  for (int64_t i = 0; i < dim; ++i) {
    T d, s;
    std::memcpy(&d, dst + i * sizeof(T), sizeof(T));
    std::memcpy(&s, delta + i * sizeof(T), sizeof(T));
    // Integers wrap (computed unsigned, so no signed-overflow UB).
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      d = static_cast<T>(static_cast<U>(d) + static_cast<U>(s));
    } else {
      d = static_cast<T>(d + s);
    }
    std::memcpy(dst + i * sizeof(T), &d, sizeof(T));
  }
}

template <float (*kToFloat)(uint16_t), uint16_t (*kFromFloat)(float)>
void AddHalfLike(char* dst, const char* delta, int64_t dim) {
  for (int64_t i = 0; i < dim; ++i) {
    uint16_t d, s;
    std::memcpy(&d, dst + 2 * i, 2);
    std::memcpy(&s, delta + 2 * i, 2);
    d = kFromFloat(kToFloat(d) + kToFloat(s));
    std::memcpy(dst + 2 * i, &d, 2);
  }
}

inline void AddBool(char* dst, const char* delta, int64_t dim) {
  for (int64_t i = 0; i < dim; ++i) dst[i] = (dst[i] || delta[i]) ? 1 : 0;
}

}  // namespace value_type_internal

// The host implementation of accum's add for a value type (null for an
// unknown type).
inline RowAccumFn HostAccumFn(ValueType t) {
  namespace vi = value_type_internal;
  switch (t) {
    case ValueType::kFloat32: return &vi::AddPlain<float>;
    case ValueType::kFloat64: return &vi::AddPlain<double>;
    case ValueType::kInt8: return &vi::AddPlain<int8_t>;
    case ValueType::kInt32: return &vi::AddPlain<int32_t>;
    case ValueType::kInt64: return &vi::AddPlain<int64_t>;
    case ValueType::kFloat16:
      return &vi::AddHalfLike<&HalfToFloat, &FloatToHalf>;
    case ValueType::kBFloat16:
      return &vi::AddHalfLike<&BFloat16ToFloat, &FloatToBFloat16>;
    case ValueType::kBool: return &vi::AddBool;
  }
  return nullptr;
}

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_VALUE_TYPE_H_

// CRC-32C (Castagnoli), table-driven, slicing by 8 bytes.
//
// Used as the integrity check of exported table files. The 8 x 256 table is
// built once (thread-safe static initialization); each step folds 8 input
// bytes with 8 table reads, about 1-2 GB/s on one core.
#ifndef TFRA_CC_CORE_CRC32C_H_
#define TFRA_CC_CORE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace tfra {
namespace core {

class Crc32c {
 public:
  static uint32_t Extend(uint32_t crc, const char* data, size_t n) {
    const uint32_t(*t)[256] = tables().t;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(data);
    crc = ~crc;
    while (n >= 8) {
      const uint32_t lo = crc ^ (p[0] | p[1] << 8 | p[2] << 16 |
                                 static_cast<uint32_t>(p[3]) << 24);
      crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^
            t[4][lo >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
      p += 8;
      n -= 8;
    }
    while (n-- > 0) crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
  }

 private:
  struct Tables {
    uint32_t t[8][256];
    Tables() {
      for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[0][i] = c;
      }
      for (uint32_t i = 0; i < 256; ++i) {
        for (int k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
      }
    }
  };
  static const Tables& tables() {
    static const Tables kTables;
    return kTables;
  }
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_CRC32C_H_

// libFuzzer target over the table-file reader (see kv_file_fuzz_target.h).
// Built with clang++ -fsanitize=fuzzer,address,undefined and run for a
// bounded time by tests/core/test_kv_file_fuzz.py, seeded from
// kv_file_fuzz_corpus/.
#include <cstddef>
#include <cstdint>

#include "cc/core/tests/kv_file_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ::tfra::core::fuzz::ReadAllKeyKinds(data, size);
}

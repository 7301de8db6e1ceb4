// Helpers shared by the core's GoogleTest files.
#ifndef TFRA_CC_CORE_TESTS_TEST_UTIL_H_
#define TFRA_CC_CORE_TESTS_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "cc/core/table.h"

namespace tfra {
namespace core {
namespace testing_util {

// TFRA_TEST_SCALE (env, default 1) multiplies the sizes of heavier tests.
inline int Scale() {
  const char* s = std::getenv("TFRA_TEST_SCALE");
  return s == nullptr ? 1 : std::max(1, std::atoi(s));
}

// A ParallelFor backed by std::thread, splitting [0, total) in `threads`.
inline ParallelFor ThreadsPF(int threads) {
  return [threads](int64_t total, int64_t,
                   const std::function<void(int64_t, int64_t)>& fn) {
    std::vector<std::thread> ts;
    const int64_t step = (total + threads - 1) / threads;
    for (int64_t b = 0; b < total; b += step) {
      ts.emplace_back(fn, b, std::min(total, b + step));
    }
    for (auto& t : ts) t.join();
  };
}

}  // namespace testing_util
}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_TESTS_TEST_UTIL_H_

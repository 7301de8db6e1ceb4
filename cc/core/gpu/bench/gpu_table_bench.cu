// Throughput of the CUDA hash table core (no TensorFlow): find and
// insert_or_assign of --batch keys per call on a table of --capacity slots
// filled to each --load-factors, for each --dims (float32 rows), printed as
// billions of key-value pairs per second (B-KV/s) next to a device-to-device
// copy of the same bytes measured in the same run (the bandwidth bound:
// find moves at least a row per key).
//
//   ./gpu_table_bench [--capacity 67108864] [--batch 1048576]
//                     [--dims 8,32,64,128] [--load-factors 0.5,1.0]
//                     [--repeats 10]
// The table is bounded (max_capacity = --capacity), as HierarchicalKV's
// benchmark table is, so load factor 1.0 means every slot is used and new
// keys evict. Timed finds hit; timed inserts assign existing keys (half of
// each batch) and add new ones (the other half; at load factor 1.0 these
// evict). Each figure is the median over --repeats calls.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cc/core/gpu/gpu_hash_table.h"

namespace tg = ::tfra::core::gpu;

namespace {

void Cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

void Ok(const tfra::core::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.message().c_str());
    std::exit(1);
  }
}

std::vector<double> ParseList(const char* s) {
  std::vector<double> out;
  std::string item;
  for (const char* p = s;; ++p) {
    if (*p == ',' || *p == '\0') {
      if (!item.empty()) out.push_back(std::atof(item.c_str()));
      item.clear();
      if (*p == '\0') break;
    } else {
      item += *p;
    }
  }
  return out;
}

// Distinct keys: a bijective mix of a counter (the i-th key of the run).
__global__ void MakeKeys(int64_t* keys, size_t n, uint64_t first) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint64_t x = first + i;
    x = (x ^ (x >> 31)) * 0x7fb5d329728ea185ULL;
    x = (x ^ (x >> 27)) * 0x81dadef4bc2dd44dULL;
    keys[i] = static_cast<int64_t>(x ^ (x >> 33));
  }
}

template <typename F>
double MedianMs(int repeats, cudaStream_t stream, F&& fn) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<float> ms;
  for (int r = 0; r < repeats + 1; ++r) {  // first call warms up
    cudaEventRecord(a, stream);
    fn(r);
    cudaEventRecord(b, stream);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    if (r > 0) ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t capacity = 64ull << 20;
  size_t batch = 1 << 20;
  int repeats = 10;
  std::vector<double> dims = {8, 32, 64, 128};
  std::vector<double> lfs = {0.5, 1.0};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--capacity") capacity = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--batch") batch = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--repeats") repeats = std::atoi(argv[i + 1]);
    else if (flag == "--dims") dims = ParseList(argv[i + 1]);
    else if (flag == "--load-factors") lfs = ParseList(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::string why;
  if (!tg::GpuAvailable(&why)) {
    std::printf("SKIP: %s\n", why.c_str());
    return 77;
  }
  cudaDeviceProp prop;
  Cuda(cudaGetDeviceProperties(&prop, 0), "device properties");
  std::printf("device: %s, capacity %llu slots, batch %zu keys, float32 rows\n",
              prop.name, static_cast<unsigned long long>(capacity), batch);
  std::printf("%5s %5s %12s %12s %12s %10s\n", "dim", "lf", "find B-KV/s",
              "insert B-KV/s", "copy B-KV/s", "find/copy");
  auto alloc = tg::NewCudaMallocAllocator();
  cudaStream_t stream;
  Cuda(cudaStreamCreate(&stream), "stream");
  int64_t* keys = nullptr;
  Cuda(cudaMalloc(&keys, batch * sizeof(int64_t)), "keys");
  for (double dim_f : dims) {
    const int64_t dim = static_cast<int64_t>(dim_f);
    const size_t row_bytes = dim * sizeof(float);
    char* values = nullptr;
    char* copy_dst = nullptr;
    Cuda(cudaMalloc(&values, batch * row_bytes), "values");
    Cuda(cudaMalloc(&copy_dst, batch * row_bytes), "copy target");
    Cuda(cudaMemset(values, 1, batch * row_bytes), "values");
    const double copy_ms = MedianMs(repeats, stream, [&](int) {
      cudaMemcpyAsync(copy_dst, values, batch * row_bytes,
                      cudaMemcpyDeviceToDevice, stream);
    });
    for (double lf : lfs) {
      tg::GpuTableOptions o;
      o.dim = dim;
      o.max_capacity = capacity;
      std::unique_ptr<tg::GpuHashTable<int64_t>> table;
      Ok(tg::GpuHashTable<int64_t>::Create(o, alloc.get(), stream, &table),
         "create");
      const uint64_t fill = static_cast<uint64_t>(lf * capacity);
      for (uint64_t done = 0; done < fill; done += batch) {
        const size_t n = std::min<uint64_t>(batch, fill - done);
        MakeKeys<<<1024, 256, 0, stream>>>(keys, n, done);
        Ok(table->insert_or_assign(stream, keys, n, values, nullptr, nullptr,
                                   nullptr), "fill");
      }
      std::mt19937_64 rng(1);
      const double find_ms = MedianMs(repeats, stream, [&](int) {
        MakeKeys<<<1024, 256, 0, stream>>>(keys, batch, rng() % (fill - batch + 1));
        Ok(table->find(stream, keys, batch, copy_dst, values, false, nullptr),
           "find");
      });
      // Half existing keys, half new (keys past the fill).
      uint64_t next_new = fill;
      const double insert_ms = MedianMs(repeats, stream, [&](int) {
        MakeKeys<<<1024, 256, 0, stream>>>(keys, batch / 2,
                                            rng() % (fill - batch + 1));
        MakeKeys<<<1024, 256, 0, stream>>>(keys + batch / 2, batch - batch / 2,
                                            next_new);
        next_new += batch;
        Ok(table->insert_or_assign(stream, keys, batch, values, nullptr, nullptr,
                                   nullptr), "insert");
      });
      // Key generation is inside the timed region; measure it to subtract.
      const double gen_ms = MedianMs(repeats, stream, [&](int) {
        MakeKeys<<<1024, 256, 0, stream>>>(keys, batch, 0);
      });
      const double f = std::max(find_ms - gen_ms, 1e-6);
      const double w = std::max(insert_ms - gen_ms, 1e-6);
      std::printf("%5lld %5.2f %12.3f %12.3f %12.3f %10.2f\n",
                  static_cast<long long>(dim), lf, batch / f / 1e6,
                  batch / w / 1e6, batch / copy_ms / 1e6, f / copy_ms);
      std::fflush(stdout);
    }
    cudaFree(values);
    cudaFree(copy_dst);
  }
  cudaFree(keys);
  cudaStreamDestroy(stream);
  return 0;
}

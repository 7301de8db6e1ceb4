// tfra_gpu: a pybind11 module over the TF-free CUDA core (gpu_hash_table.h,
// gpu_batch.h), for testing and benchmarking the GPU table from Python on a
// machine that has CUDA and CuPy or PyTorch but no TensorFlow. Compiled with
// the host compiler (the core's headers include no CUDA header) and linked
// with the nvcc-built core and the static CUDA runtime (CMakeLists.txt).
//
// Buffers are passed as device pointers (ints: CuPy's `a.data.ptr`, torch's
// `t.data_ptr()`), streams as ints (0: the legacy default stream), so the
// module depends on no array library. Errors raise RuntimeError with the
// core's message.
//
//   import tfra_gpu
//   t = tfra_gpu.Table(dim=8, value_type="float32", key_type="int64")
//   t.insert(keys.data.ptr, n, values.data.ptr)
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cc/core/gpu/gpu_batch.h"
#include "cc/core/gpu/gpu_hash_table.h"

namespace py = pybind11;
namespace tg = ::tfra::core::gpu;
using ::tfra::core::Status;
using ::tfra::core::ValueType;

namespace {

void Check(const Status& s) {
  if (!s.ok()) throw std::runtime_error(s.message());
}

template <typename T>
T* Ptr(uintptr_t p) {
  return reinterpret_cast<T*>(p);
}
void* Stream(uintptr_t s) { return reinterpret_cast<void*>(s); }

ValueType ParseValueType(const std::string& name) {
  if (name == "float32") return ValueType::kFloat32;
  if (name == "float16") return ValueType::kFloat16;
  if (name == "bfloat16") return ValueType::kBFloat16;
  if (name == "float64") return ValueType::kFloat64;
  if (name == "int8") return ValueType::kInt8;
  if (name == "int32") return ValueType::kInt32;
  if (name == "int64") return ValueType::kInt64;
  throw std::invalid_argument("value_type: unsupported '" + name + "'");
}

tg::GpuEvictPolicy ParsePolicy(const std::string& name) {
  if (name == "lru") return tg::GpuEvictPolicy::kLru;
  if (name == "lfu") return tg::GpuEvictPolicy::kLfu;
  if (name == "custom") return tg::GpuEvictPolicy::kCustom;
  throw std::invalid_argument("policy: one of lru, lfu, custom; got '" + name +
                              "'");
}

// One table of either key type behind a key-type-free Python class.
class PyTable {
 public:
  PyTable(int64_t dim, const std::string& value_type,
          const std::string& key_type, uint64_t init_capacity,
          uint64_t max_capacity, const std::string& policy,
          double max_load_factor, uintptr_t stream)
      : alloc_(tg::NewCudaMallocAllocator()), int32_(key_type == "int32") {
    if (key_type != "int64" && key_type != "int32") {
      throw std::invalid_argument("key_type: int64 or int32, got '" +
                                  key_type + "'");
    }
    tg::GpuTableOptions o;
    o.dim = dim;
    o.value_type = ParseValueType(value_type);
    o.init_capacity = init_capacity;
    o.max_capacity = max_capacity;
    o.policy = ParsePolicy(policy);
    o.max_load_factor = max_load_factor;
    if (int32_) {
      Check(tg::GpuHashTable<int32_t>::Create(o, alloc_.get(), Stream(stream),
                                              &t32_));
    } else {
      Check(tg::GpuHashTable<int64_t>::Create(o, alloc_.get(), Stream(stream),
                                              &t64_));
    }
  }

  // Calls fn on the typed table with the key type's pointer type.
  template <typename Fn>
  auto Visit(Fn&& fn) {
    return int32_ ? fn(*t32_, static_cast<int32_t*>(nullptr))
                  : fn(*t64_, static_cast<int64_t*>(nullptr));
  }

  std::unique_ptr<::tfra::core::Allocator> alloc_;
  const bool int32_;
  std::unique_ptr<tg::GpuHashTable<int64_t>> t64_;
  std::unique_ptr<tg::GpuHashTable<int32_t>> t32_;
};

}  // namespace

PYBIND11_MODULE(tfra_gpu, m) {
  m.doc() = "The CUDA hash table core of tensorflow_recommenders_addons, "
            "without TensorFlow (device pointers and streams as ints).";

  m.def("gpu_available", [] {
    std::string why;
    const bool ok = tg::GpuAvailable(&why);
    return std::make_pair(ok, why);
  }, "(True, '') where a CUDA device is usable, else (False, the error).");

  py::class_<PyTable>(m, "Table")
      .def(py::init<int64_t, const std::string&, const std::string&, uint64_t,
                    uint64_t, const std::string&, double, uintptr_t>(),
           py::arg("dim"), py::arg("value_type") = "float32",
           py::arg("key_type") = "int64", py::arg("init_capacity") = 1 << 14,
           py::arg("max_capacity") = 0, py::arg("policy") = "lru",
           py::arg("max_load_factor") = 0.5, py::arg("stream") = 0)
      .def("capacity", [](PyTable& t) {
        return t.Visit([](auto& table, auto*) { return table.capacity(); });
      })
      .def("allocated_bytes", [](PyTable& t) {
        return t.Visit([](auto& table, auto*) { return table.allocated_bytes(); });
      })
      .def("size", [](PyTable& t, uintptr_t stream) {
        return t.Visit([&](auto& table, auto*) {
          int64_t n = 0;
          Check(table.size(Stream(stream), &n));
          return n;
        });
      }, py::arg("stream") = 0)
      .def("find", [](PyTable& t, uintptr_t keys, size_t n, uintptr_t values,
                      uintptr_t defaults, bool per_key_defaults,
                      uintptr_t exists, uintptr_t stream) {
        t.Visit([&](auto& table, auto* k) {
          using K = std::remove_pointer_t<decltype(k)>;
          Check(table.find(Stream(stream), Ptr<const K>(keys), n,
                           Ptr<char>(values), Ptr<const char>(defaults),
                           per_key_defaults, Ptr<bool>(exists)));
          return 0;
        });
      }, py::arg("keys"), py::arg("n"), py::arg("values"), py::arg("defaults"),
         py::arg("per_key_defaults") = false, py::arg("exists") = 0,
         py::arg("stream") = 0)
      .def("insert", [](PyTable& t, uintptr_t keys, size_t n, uintptr_t values,
                        uintptr_t scores, uintptr_t dropped, uintptr_t stream) {
        return t.Visit([&](auto& table, auto* k) {
          using K = std::remove_pointer_t<decltype(k)>;
          size_t num_dropped = 0;
          Check(table.insert_or_assign(Stream(stream), Ptr<const K>(keys), n,
                                       Ptr<const char>(values),
                                       Ptr<const uint64_t>(scores),
                                       Ptr<K>(dropped), &num_dropped));
          return num_dropped;
        });
      }, py::arg("keys"), py::arg("n"), py::arg("values"), py::arg("scores") = 0,
         py::arg("dropped") = 0, py::arg("stream") = 0,
         "Insert-or-assign; returns the number of keys written to dropped.")
      .def("accum", [](PyTable& t, uintptr_t keys, size_t n, uintptr_t values,
                       uintptr_t exists, uintptr_t dropped, uintptr_t stream) {
        return t.Visit([&](auto& table, auto* k) {
          using K = std::remove_pointer_t<decltype(k)>;
          size_t num_dropped = 0;
          Check(table.accum(Stream(stream), Ptr<const K>(keys), n,
                            Ptr<const char>(values), Ptr<const bool>(exists),
                            Ptr<K>(dropped), &num_dropped));
          return num_dropped;
        });
      }, py::arg("keys"), py::arg("n"), py::arg("values"), py::arg("exists"),
         py::arg("dropped") = 0, py::arg("stream") = 0)
      .def("remove", [](PyTable& t, uintptr_t keys, size_t n, uintptr_t stream) {
        t.Visit([&](auto& table, auto* k) {
          using K = std::remove_pointer_t<decltype(k)>;
          Check(table.remove(Stream(stream), Ptr<const K>(keys), n));
          return 0;
        });
      }, py::arg("keys"), py::arg("n"), py::arg("stream") = 0)
      .def("clear", [](PyTable& t, uintptr_t stream) {
        t.Visit([&](auto& table, auto*) {
          Check(table.clear(Stream(stream)));
          return 0;
        });
      }, py::arg("stream") = 0)
      .def("export_batch", [](PyTable& t, uint64_t cursor, size_t max_rows,
                              uintptr_t keys, uintptr_t values,
                              uintptr_t scores, uintptr_t stream) {
        return t.Visit([&](auto& table, auto* k) {
          using K = std::remove_pointer_t<decltype(k)>;
          size_t count = 0;
          uint64_t next = 0;
          Check(table.export_batch(Stream(stream), cursor, max_rows,
                                   Ptr<K>(keys), Ptr<char>(values),
                                   Ptr<uint64_t>(scores), &count, &next));
          return std::make_tuple(count, next);
        });
      }, py::arg("cursor"), py::arg("max_rows"), py::arg("keys"),
         py::arg("values"), py::arg("scores") = 0, py::arg("stream") = 0,
         "(rows written, next cursor; 0 once the table is done).");

  m.def("unique_scratch_bytes", [](size_t n, const std::string& key_type) {
    return key_type == "int32" ? tg::UniqueScratchBytes<int32_t>(n)
                               : tg::UniqueScratchBytes<int64_t>(n);
  }, py::arg("n"), py::arg("key_type") = "int64");
  m.def("unique", [](uintptr_t keys, size_t n, uintptr_t scratch,
                     size_t scratch_bytes, uintptr_t unique, uintptr_t idx,
                     const std::string& key_type, uintptr_t stream) {
    size_t count = 0;
    if (key_type == "int32") {
      Check(tg::UniqueKeys<int32_t>(Stream(stream), Ptr<const int32_t>(keys),
                                    n, Ptr<void>(scratch), scratch_bytes,
                                    Ptr<int32_t>(unique), Ptr<int32_t>(idx),
                                    &count));
    } else {
      Check(tg::UniqueKeys<int64_t>(Stream(stream), Ptr<const int64_t>(keys),
                                    n, Ptr<void>(scratch), scratch_bytes,
                                    Ptr<int64_t>(unique), Ptr<int32_t>(idx),
                                    &count));
    }
    return count;
  }, py::arg("keys"), py::arg("n"), py::arg("scratch"),
     py::arg("scratch_bytes"), py::arg("unique"), py::arg("idx"),
     py::arg("key_type") = "int64", py::arg("stream") = 0,
     "Distinct keys in first-seen order into unique, ranks into idx; "
     "returns the distinct count.");
}

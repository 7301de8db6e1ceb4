// TableFactory: tables are created by backend name.
//
// A backend registers a maker under its name ("cpu", later "gpu", "redis")
// from a static initializer in its own .cc (TFRA_REGISTER_TABLE_BACKEND);
// the creation kernel passes the `backend` attr of TFRA>HashTableOfTensors
// and the key kind, so adding a backend touches no kernel. The registry is a
// function-local static guarded by a mutex: registration may run from any
// shared library's initializers, lookups from any op thread.
#ifndef TFRA_CC_CORE_TABLE_FACTORY_H_
#define TFRA_CC_CORE_TABLE_FACTORY_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cc/core/status.h"
#include "cc/core/table.h"

namespace tfra {
namespace core {

enum class KeyKind : int32_t { kInt64 = 0, kInt32 = 1, kString = 2 };

using TableMaker = std::function<Status(KeyKind, const TableOptions&,
                                        std::unique_ptr<TableBase>*)>;

class TableFactory {
 public:
  // Adds a backend; false (and no change) if the name is taken.
  static bool Register(const std::string& backend, MemorySpace space,
                       TableMaker maker) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    return r.makers.emplace(backend, Entry{space, std::move(maker)}).second;
  }

  // Creates a table of `backend`; NotFound naming the registered backends
  // when there is no such backend.
  static Status Create(const std::string& backend, KeyKind key_kind,
                       const TableOptions& options,
                       std::unique_ptr<TableBase>* out) {
    TableMaker maker;
    {
      Registry& r = registry();
      std::lock_guard<std::mutex> lock(r.mu);
      auto it = r.makers.find(backend);
      if (it == r.makers.end()) {
        std::string known;
        for (const auto& kv : r.makers) {
          known += (known.empty() ? "" : ", ") + kv.first;
        }
        return Status(Code::kNotFound, "backend: no table backend named '" +
                                           backend + "' is built in (built: " +
                                           known + ")");
      }
      maker = it->second.maker;
    }
    return maker(key_kind, options, out);
  }

  // The memory space of a backend's buffers; false if unknown.
  static bool SpaceOf(const std::string& backend, MemorySpace* space) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.makers.find(backend);
    if (it == r.makers.end()) return false;
    *space = it->second.space;
    return true;
  }

  static std::vector<std::string> Backends() {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    std::vector<std::string> names;
    for (const auto& kv : r.makers) names.push_back(kv.first);
    return names;
  }

 private:
  struct Entry {
    MemorySpace space;
    TableMaker maker;
  };
  struct Registry {
    std::mutex mu;
    std::map<std::string, Entry> makers;
  };
  static Registry& registry() {
    static Registry* r = new Registry();  // never destroyed: used at exit
    return *r;
  }
};

#define TFRA_TABLE_CONCAT_INNER(a, b) a##b
#define TFRA_TABLE_CONCAT(a, b) TFRA_TABLE_CONCAT_INNER(a, b)
// Registers `maker` (a TableMaker) as backend `name` at load time.
#define TFRA_REGISTER_TABLE_BACKEND(name, space, maker)                  \
  static const bool TFRA_TABLE_CONCAT(tfra_backend_registered_,          \
                                      __COUNTER__) =                     \
      ::tfra::core::TableFactory::Register(name, space, maker)

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_TABLE_FACTORY_H_

// Registers the CPU hash table (cpu_hash_table.h) as table backend "cpu":
// host memory, every capability (bounds, snapshots, admission sketch).
#include <memory>
#include <string>

#include "cc/core/cpu_hash_table.h"
#include "cc/core/table_factory.h"

namespace tfra {
namespace core {
namespace {

template <typename K>
Status MakeTyped(const TableOptions& options, std::unique_ptr<TableBase>* out) {
  std::unique_ptr<CpuHashTable<K>> table;
  TFRA_CORE_RETURN_IF_ERROR(CpuHashTable<K>::Create(options, &table));
  *out = std::move(table);
  return Status::OK();
}

Status MakeCpuTable(KeyKind key_kind, const TableOptions& options,
                    std::unique_ptr<TableBase>* out) {
  switch (key_kind) {
    case KeyKind::kInt64: return MakeTyped<int64_t>(options, out);
    case KeyKind::kInt32: return MakeTyped<int32_t>(options, out);
    case KeyKind::kString: return MakeTyped<std::string>(options, out);
  }
  return InvalidArgument("key_dtype: unsupported key kind");
}

}  // namespace

TFRA_REGISTER_TABLE_BACKEND("cpu", MemorySpace::kHost, &MakeCpuTable);

}  // namespace core
}  // namespace tfra

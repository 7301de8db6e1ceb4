#include "cc/kernels/table_resource.h"

#include "absl/strings/str_cat.h"
#include "tensorflow/core/framework/device_base.h"

namespace tensorflow {
namespace tfra_ops {

absl::Status ValueTypeOf(DataType dt, ::tfra::core::ValueType* out) {
  switch (dt) {
    case DT_FLOAT: *out = ::tfra::core::ValueType::kFloat32; break;
    case DT_HALF: *out = ::tfra::core::ValueType::kFloat16; break;
    case DT_BFLOAT16: *out = ::tfra::core::ValueType::kBFloat16; break;
    case DT_DOUBLE: *out = ::tfra::core::ValueType::kFloat64; break;
    case DT_INT8: *out = ::tfra::core::ValueType::kInt8; break;
    case DT_INT32: *out = ::tfra::core::ValueType::kInt32; break;
    case DT_INT64: *out = ::tfra::core::ValueType::kInt64; break;
    case DT_BOOL: *out = ::tfra::core::ValueType::kBool; break;
    default:
      return errors::InvalidArgument("value_dtype ", DataTypeString(dt),
                                     " is not supported");
  }
  return absl::OkStatus();
}

absl::Status ToTfStatus(const ::tfra::core::Status& s) {
  using ::tfra::core::Code;
  switch (s.code()) {
    case Code::kOk: return absl::OkStatus();
    case Code::kInvalidArgument: return errors::InvalidArgument(s.message());
    case Code::kNotFound: return errors::NotFound(s.message());
    case Code::kFailedPrecondition: return errors::FailedPrecondition(s.message());
    case Code::kDataLoss: return errors::DataLoss(s.message());
    case Code::kResourceExhausted: return errors::ResourceExhausted(s.message());
    case Code::kInternal: return errors::Internal(s.message());
    case Code::kUnavailable: return errors::Unavailable(s.message());
    case Code::kUnimplemented: return errors::Unimplemented(s.message());
  }
  return errors::Internal(s.message());
}

::tfra::core::ParallelFor MakeParallelFor(OpKernelContext* ctx) {
  const DeviceBase::CpuWorkerThreads* workers =
      ctx->device()->tensorflow_cpu_worker_threads();
  if (workers == nullptr || workers->workers == nullptr) return {};
  thread::ThreadPool* pool = workers->workers;
  return [pool](int64_t total, int64_t cost,
                const std::function<void(int64_t, int64_t)>& fn) {
    pool->ParallelFor(total, cost, fn);
  };
}

absl::Status GetTable(OpKernelContext* ctx, DataType key_dtype,
                      int value_input, const char* value_arg,
                      core::RefCountPtr<TableResource>* out) {
  TF_RETURN_IF_ERROR(LookupResource(ctx, HandleFromInput(ctx, 0), out));
  TableResource* t = out->get();
  if (key_dtype != DT_INVALID && key_dtype != t->key_dtype()) {
    return errors::InvalidArgument(
        "keys: dtype ", DataTypeString(key_dtype), " does not match the ",
        "table's key dtype ", DataTypeString(t->key_dtype()));
  }
  if (value_input >= 0) {
    const DataType vt = ctx->input(value_input).dtype();
    if (vt != t->value_dtype()) {
      return errors::InvalidArgument(
          value_arg, ": dtype ",
          DataTypeString(vt), " does not match the table's value dtype ",
          DataTypeString(t->value_dtype()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSpace(const TableResource& table,
                        ::tfra::core::MemorySpace device_space,
                        const char* device_name) {
  const ::tfra::core::TableBase& t = *const_cast<TableResource&>(table).base();
  if (t.memory_space() == device_space) return absl::OkStatus();
  return errors::FailedPrecondition(
      "the table's rows live in ", ::tfra::core::MemorySpaceName(t.memory_space()),
      " memory ('", t.backend(), "' backend) but this op runs on a ",
      device_name, " device; place the op on the table's device");
}

TensorShape ValueShapeFor(const Tensor& keys, int64_t dim) {
  TensorShape s = keys.shape();
  s.AddDim(dim);
  return s;
}

absl::Status CheckShape(const char* arg, const Tensor& t,
                        const TensorShape& expected, const char* why) {
  if (t.shape() == expected) return absl::OkStatus();
  return errors::InvalidArgument(arg, ": expected shape ",
                                 expected.DebugString(), " (", why,
                                 ") but got ", t.shape().DebugString());
}

}  // namespace tfra_ops
}  // namespace tensorflow

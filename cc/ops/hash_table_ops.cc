// Op registrations of the hash table family. Every name carries the TFRA>
// namespace prefix so SavedModels can whitelist it with
// tf.saved_model.SaveOptions(namespace_whitelist=["TFRA"]). The names are
// backend-neutral (TFRA>HashTable*): the creation op's `backend` attr picks
// the table implementation (cc/core/table_factory.h) and every other op
// works on whatever table its handle holds, on the device it is placed on.
//
// Shape functions check what is knowable at graph time: values paired with
// keys are keys.shape + [dim], exists masks are keys.shape, default rows are
// [dim] or keys.shape + [dim].
#include "cc/ops/op_types.h"
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace tfra_ops {
namespace {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;


// Prefixes a shape-function error with the op argument it concerns.
absl::Status Named(const char* arg, const char* expectation, absl::Status s) {
  if (s.ok()) return s;
  return errors::InvalidArgument(arg, ": ", expectation, "; ", s.message());
}

// keys.shape + [dim], where dim is the last dimension of `rows`.
absl::Status KeysPlusDim(InferenceContext* c, ShapeHandle keys,
                         ShapeHandle rows, ShapeHandle* out) {
  TF_RETURN_IF_ERROR(c->WithRankAtLeast(rows, 1, &rows));
  return c->Concatenate(keys, c->Vector(c->Dim(rows, -1)), out);
}

// Checks that input `values_index` (argument `arg`) is keys.shape + [dim]
// (when ranks are known).
absl::Status CheckRowsMatchKeys(InferenceContext* c, int values_index,
                                const char* arg) {
  constexpr char kWant[] = "must have shape keys.shape + [dim]";
  ShapeHandle keys = c->input(1);
  ShapeHandle values = c->input(values_index);
  TF_RETURN_IF_ERROR(Named(arg, kWant, c->WithRankAtLeast(values, 1, &values)));
  if (c->RankKnown(keys) && c->RankKnown(values)) {
    ShapeHandle expected;
    TF_RETURN_IF_ERROR(Named(arg, kWant, KeysPlusDim(c, keys, values, &expected)));
    TF_RETURN_IF_ERROR(Named(arg, kWant, c->Merge(values, expected, &values)));
  }
  return absl::OkStatus();
}

absl::Status FindShape(InferenceContext* c) {
  ShapeHandle handle;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 0, &handle));
  ShapeHandle out;
  TF_RETURN_IF_ERROR(Named("default_value", "must be [dim] or keys.shape + [dim]",
                           KeysPlusDim(c, c->input(1), c->input(2), &out)));
  c->set_output(0, out);
  if (c->num_outputs() > 1) c->set_output(1, c->input(1));
  return absl::OkStatus();
}

}  // namespace

// backend: a name registered with the core's TableFactory ('cpu', 'gpu'),
// or '' for the table of the device the op is placed on ('gpu' on a GPU,
// 'cpu' otherwise), so placing a table on /GPU:0 is all it takes to get the
// CUDA table (the GPU kernel takes int64 and int32 keys only, so string
// tables stay on the CPU under soft placement).
REGISTER_OP("TFRA>HashTableOfTensors")
    .Output("table_handle: resource")
    .Attr("container: string = ''")
    .Attr("shared_name: string = ''")
    .Attr("use_node_name_sharing: bool = false")
    .Attr("key_dtype: " TFRA_KEY_TYPES)
    .Attr("value_dtype: " TFRA_VALUE_TYPES)
    .Attr("value_shape: shape = { dim { size: 1 } }")
    .Attr("init_size: int = 0")
    .Attr("num_shards: int = 0")
    .Attr("max_capacity: int = 0")
    .Attr("evict_strategy: string = 'lru'")
    .Attr("ttl: int = 0")
    .Attr("admit_after: int = 0")
    .Attr("sketch_width: int = 4096")
    .Attr("track_meta: bool = false")
    .Attr("backend: string = 'cpu'")
    .SetIsStateful()
    .SetShapeFn(shape_inference::ScalarShape);

REGISTER_OP("TFRA>HashTableFind")
    .Input("table_handle: resource")
    .Input("keys: Tin")
    .Input("default_value: Tout")
    .Output("values: Tout")
    .Attr("Tin: " TFRA_KEY_TYPES)
    .Attr("Tout: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn(FindShape);

REGISTER_OP("TFRA>HashTableFindWithExists")
    .Input("table_handle: resource")
    .Input("keys: Tin")
    .Input("default_value: Tout")
    .Output("values: Tout")
    .Output("exists: bool")
    .Attr("Tin: " TFRA_KEY_TYPES)
    .Attr("Tout: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn(FindShape);

// dropped: the keys a bounded table refused (admission) or evicted.
REGISTER_OP("TFRA>HashTableInsert")
    .Input("table_handle: resource")
    .Input("keys: Tin")
    .Input("values: Tout")
    .Input("scores: int64")
    .Output("dropped: Tin")
    .Attr("Tin: " TFRA_KEY_TYPES)
    .Attr("Tout: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->Vector(InferenceContext::kUnknownDim));
      // scores: empty (no scores) or keys.shape.
      ShapeHandle scores = c->input(3);
      if (c->FullyDefined(scores) && c->Value(c->NumElements(scores)) > 0) {
        TF_RETURN_IF_ERROR(Named("scores", "must be empty or keys.shape",
                                 c->Merge(scores, c->input(1), &scores)));
      }
      return CheckRowsMatchKeys(c, 2, "values");
    });

REGISTER_OP("TFRA>HashTableAccum")
    .Input("table_handle: resource")
    .Input("keys: key_dtype")
    .Input("values_or_deltas: value_dtype")
    .Input("exists: bool")
    .Output("dropped: key_dtype")
    .Attr("key_dtype: " TFRA_KEY_TYPES)
    .Attr("value_dtype: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->Vector(InferenceContext::kUnknownDim));
      TF_RETURN_IF_ERROR(CheckRowsMatchKeys(c, 2, "values_or_deltas"));
      ShapeHandle exists;
      return Named("exists", "must have shape keys.shape",
                   c->Merge(c->input(3), c->input(1), &exists));
    });

REGISTER_OP("TFRA>HashTableRemove")
    .Input("table_handle: resource")
    .Input("keys: Tin")
    .Attr("Tin: " TFRA_KEY_TYPES)
    .Attr("Tout: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs);

REGISTER_OP("TFRA>HashTableClear")
    .Input("table_handle: resource")
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs);

REGISTER_OP("TFRA>HashTableSize")
    .Input("table_handle: resource")
    .Output("size: int64")
    .SetIsStateful()
    .SetShapeFn(shape_inference::ScalarShape);

REGISTER_OP("TFRA>HashTableExport")
    .Input("table_handle: resource")
    .Output("keys: Tkeys")
    .Output("values: Tvalues")
    .Attr("Tkeys: " TFRA_KEY_TYPES)
    .Attr("Tvalues: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->Vector(InferenceContext::kUnknownDim));
      c->set_output(1, c->Matrix(InferenceContext::kUnknownDim,
                                 InferenceContext::kUnknownDim));
      return absl::OkStatus();
    });

REGISTER_OP("TFRA>HashTableImport")
    .Input("table_handle: resource")
    .Input("keys: Tin")
    .Input("values: Tout")
    .Attr("Tin: " TFRA_KEY_TYPES)
    .Attr("Tout: " TFRA_VALUE_TYPES)
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) { return CheckRowsMatchKeys(c, 2, "values"); });

REGISTER_OP("TFRA>HashTableSaveToFileSystem")
    .Input("table_handle: resource")
    .Input("dirpath: string")
    .Input("file_name: string")
    .Attr("key_dtype: " TFRA_KEY_TYPES)
    .Attr("value_dtype: " TFRA_VALUE_TYPES)
    .Attr("buffer_size: int >= 1 = 4194304")
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs);

REGISTER_OP("TFRA>HashTableLoadFromFileSystem")
    .Input("table_handle: resource")
    .Input("dirpath: string")
    .Input("file_name: string")
    .Attr("key_dtype: " TFRA_KEY_TYPES)
    .Attr("value_dtype: " TFRA_VALUE_TYPES)
    .Attr("load_entire_dir: bool = false")
    .Attr("buffer_size: int >= 1 = 4194304")
    .SetIsStateful()
    .SetShapeFn(shape_inference::NoOutputs);

}  // namespace tfra_ops
}  // namespace tensorflow

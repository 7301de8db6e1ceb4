"""Our public signatures against TFRA 0.8.1's, name by name.

`TFRA_0_8_1` is written out from TFRA 0.8.1's source (tensorflow_recommenders_
addons/dynamic_embedding/python/...): for each public callable, its
parameters in order with their defaults (`REQUIRED` for none, `VAR` for
`*args` / `**kwargs`; `self` left out). Our signature must list the same
names in the same order with equal defaults, except:

* `EXTENSIONS`: parameters we add (each with a default, after TFRA's own
  parameters or just before `**kwargs`), so every TFRA call still binds the
  same way; each with its reason;
* `DIFFERENT`: a deliberately different signature, written out too (so a
  change is noticed), with its reason.

Both lists are mirrored in docs/migration.md ("Signatures").
"""

import inspect

import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

REQUIRED = inspect.Parameter.empty
VAR = "VAR"
PARTITION_FN = "default_partition_fn"  # TFRA's default partitioner
DEFAULT_BUFFER = 4194304

_LAYER = [("embedding_size", REQUIRED), ("key_dtype", tf.int64),
          ("value_dtype", tf.float32), ("combiner", "sum"),
          ("initializer", None), ("devices", None),
          ("name", "DynamicEmbeddingLayer"), ("with_unique", True),
          ("short_file_name", False), ("**kwargs", VAR)]
_POLICY = {
    "": [("var", REQUIRED)],
    ".apply_update": [("ids", REQUIRED)],
    ".apply_restriction": [("num_reserved", REQUIRED), ("**kwargs", VAR)],
}

TFRA_0_8_1 = {
    # ops/dynamic_embedding_variable.py
    "Variable": [
        ("key_dtype", tf.int64), ("value_dtype", tf.float32), ("dim", 1),
        ("devices", None), ("partitioner", PARTITION_FN),
        ("shared_name", None), ("name", "DynamicEmbedding_Variable"),
        ("initializer", None), ("trainable", True), ("checkpoint", True),
        ("init_size", 0), ("kv_creator", None), ("restrict_policy", None),
        ("bp_v2", False), ("short_file_name", False)],
    "Variable.embedding_lookup": [("ids", REQUIRED), ("name", None),
                                  ("max_norm", None)],
    "Variable.upsert": [("keys", REQUIRED), ("values", REQUIRED),
                        ("name", None)],
    "Variable.accum": [("keys", REQUIRED), ("old_values", REQUIRED),
                       ("new_values", REQUIRED), ("exists", REQUIRED),
                       ("name", None)],
    "Variable.restrict": [("num_reserved", REQUIRED), ("**kwargs", VAR)],
    "Variable.remove": [("keys", REQUIRED), ("name", None)],
    "Variable.clear": [("name", None)],
    "Variable.lookup": [("keys", REQUIRED), ("return_exists", False),
                        ("name", None)],
    "Variable.export": [("name", None)],
    "Variable.save_to_file_system": [
        ("dirpath", REQUIRED), ("proc_size", 1), ("proc_rank", 0),
        ("file_name_list", None), ("dirpath_env", "TFRA_SAVED_KV"),
        ("append_to_file", False), ("buffer_size", DEFAULT_BUFFER),
        ("name", None)],
    "Variable.load_from_file_system": [
        ("dirpath", REQUIRED), ("proc_size", 1), ("proc_rank", 0),
        ("file_name_list", None), ("dirpath_env", "TFRA_SAVED_KV"),
        ("load_entire_dir", False), ("buffer_size", DEFAULT_BUFFER),
        ("name", None)],
    "Variable.export_keys_and_scores": [("split_size", REQUIRED),
                                        ("name", None)],
    "Variable.load_from_file_system_with_restore_function": [
        ("dirpath", REQUIRED), ("proc_size", 1), ("proc_rank", 0),
        ("buffer_size", DEFAULT_BUFFER)],
    "Variable.size": [("index", None), ("name", None)],
    "Variable.get_slot_variables": [("optimizer", REQUIRED)],
    "Variable.get_trainable_by_name": [("name", REQUIRED)],
    "get_variable": [
        ("name", REQUIRED), ("key_dtype", tf.int64),
        ("value_dtype", tf.float32), ("dim", 1), ("devices", None),
        ("partitioner", PARTITION_FN), ("shared_name", "get_variable"),
        ("initializer", None), ("trainable", True), ("checkpoint", True),
        ("init_size", 0), ("kv_creator", None), ("restrict_policy", None),
        ("bp_v2", False), ("short_file_name", False)],
    "default_partition_fn": [("keys", REQUIRED), ("shard_num", REQUIRED)],
    "embedding_lookup": [
        ("params", REQUIRED), ("ids", REQUIRED),
        ("partition_strategy", None), ("name", None),
        ("validate_indices", None), ("max_norm", None),
        ("return_trainable", False)],
    # ops/dynamic_embedding_ops.py
    "embedding_lookup_unique": [
        ("params", REQUIRED), ("ids", REQUIRED),
        ("partition_strategy", None), ("name", None),
        ("validate_indices", None), ("max_norm", None),
        ("return_trainable", False)],
    "embedding_lookup_sparse": [
        ("params", REQUIRED), ("sp_ids", REQUIRED), ("sp_weights", REQUIRED),
        ("partition_strategy", None), ("name", "embedding_lookup_sparse"),
        ("combiner", "mean"), ("max_norm", None),
        ("return_trainable", False)],
    "safe_embedding_lookup_sparse": [
        ("embedding_weights", REQUIRED), ("sparse_ids", REQUIRED),
        ("sparse_weights", None), ("combiner", "mean"), ("default_id", None),
        ("name", "safe_embedding_lookup_sparse"),
        ("partition_strategy", None), ("max_norm", None),
        ("return_trainable", False)],
    "enable_inference_mode": [],
    "enable_train_mode": [],
    "get_model_mode": [],
    # ops/embedding_weights.py
    "TrainableWrapper": [("params", REQUIRED), ("ids", REQUIRED),
                         ("max_norm", REQUIRED), ("*args", VAR),
                         ("**kwargs", VAR)],
    "TrainableWrapper.prefetch_values": [("update", False)],
    "TrainableWrapper.update_op": [("v0", None)],
    "TrainableWrapper.size": [],
    "TrainableWrapper.read_value": [("do_prefetch", True)],
    "TrainableWrapper.transform": [("result", REQUIRED)],
    # ops/shadow_embedding_ops.py
    "shadow_ops.ShadowVariable": [
        ("params", REQUIRED), ("name", "ShadowVariable"), ("max_norm", None),
        ("trainable", True), ("distribute_strategy", None),
        ("**kwargs", VAR)],
    "shadow_ops.ShadowVariable.embedding_lookup": [
        ("ids", REQUIRED), ("name", None), ("max_norm", None)],
    "shadow_ops.ShadowVariable.prefetch_values": [("update", False)],
    "shadow_ops.ShadowVariable.value": [("do_prefetch", False)],
    "shadow_ops.ShadowVariable.assign": [
        ("value", REQUIRED), ("use_locking", None), ("name", None),
        ("read_value", True)],
    "shadow_ops.embedding_lookup": [
        ("shadow", REQUIRED), ("ids", REQUIRED), ("partition_strategy", None),
        ("name", None), ("validate_indices", None)],
    "shadow_ops.embedding_lookup_unique": [
        ("shadow", REQUIRED), ("ids", REQUIRED),
        ("embedding_size", REQUIRED), ("with_unique", True), ("name", None)],
    # ops/dynamic_embedding_optimizer.py
    "DynamicEmbeddingOptimizer": [("self", REQUIRED), ("bp_v2", False),
                                  ("synchronous", False), ("**kwargs", VAR)],
    # ops/cuckoo_hashtable_ops.py
    "CuckooHashTable": [
        ("key_dtype", REQUIRED), ("value_dtype", REQUIRED),
        ("default_value", REQUIRED), ("name", "CuckooHashTable"),
        ("checkpoint", True), ("init_size", 0), ("config", None),
        ("device", ""), ("shard_saveable_object_fn", None)],
    "CuckooHashTable.size": [("name", None)],
    "CuckooHashTable.remove": [("keys", REQUIRED), ("name", None)],
    "CuckooHashTable.clear": [("name", None)],
    "CuckooHashTable.lookup": [
        ("keys", REQUIRED), ("dynamic_default_values", None),
        ("return_exists", False), ("name", None)],
    "CuckooHashTable.insert": [("keys", REQUIRED), ("values", REQUIRED),
                               ("name", None)],
    "CuckooHashTable.accum": [("keys", REQUIRED),
                              ("values_or_deltas", REQUIRED),
                              ("exists", REQUIRED), ("name", None)],
    "CuckooHashTable.export": [("name", None)],
    "CuckooHashTable.save_to_file_system": [
        ("dirpath", REQUIRED), ("file_name", None),
        ("dirpath_env", "TFRA_SAVED_KV"), ("append_to_file", False),
        ("buffer_size", DEFAULT_BUFFER), ("name", None)],
    "CuckooHashTable.load_from_file_system": [
        ("dirpath", REQUIRED), ("file_name", None),
        ("dirpath_env", "TFRA_SAVED_KV"), ("load_entire_dir", False),
        ("buffer_size", DEFAULT_BUFFER), ("name", None)],
    # ops/dynamic_embedding_creator.py
    "KVCreator": [("config", None), ("saver", None)],
    "KVCreator.create": [
        ("key_dtype", None), ("value_dtype", None), ("default_value", None),
        ("name", None), ("checkpoint", None), ("init_size", None),
        ("config", None), ("device", None)],
    "CuckooHashTableConfig": [],
    "CuckooHashTableCreator": [("config", None), ("saver", None)],
    "CuckooHashTableCreator.create": [
        ("key_dtype", None), ("value_dtype", None), ("default_value", None),
        ("name", None), ("checkpoint", None), ("init_size", 0),
        ("config", None), ("device", None),
        ("shard_saveable_object_fn", None)],
    "FileSystemSaver": [("proc_size", None), ("proc_rank", None),
                        ("save_path", None), ("buffer_size", 4096)],
    # ops/restrict_policies.py
    **{f"{cls}{method}": params for cls in (
        "RestrictPolicy", "TimestampRestrictPolicy",
        "FrequencyRestrictPolicy") for method, params in _POLICY.items()},
    # ops/math_ops.py, ops/data_flow_ops.py
    "math.sparse_fill_empty_rows": [("sp_input", REQUIRED),
                                    ("default_value", REQUIRED),
                                    ("name", None)],
    "math.sparse_reshape": [("sp_input", REQUIRED), ("shape", REQUIRED),
                            ("name", None)],
    "math.sparse_segment_sum": [
        ("data", REQUIRED), ("indices", REQUIRED), ("segment_ids", REQUIRED),
        ("name", None), ("num_segments", None)],
    "data_flow.dynamic_partition": [
        ("data", REQUIRED), ("partitions", REQUIRED),
        ("num_partitions", REQUIRED), ("name", None)],
    "data_flow.dynamic_stitch": [("indices", REQUIRED), ("data", REQUIRED),
                                 ("use_fast", True), ("name", None)],
    # keras/layers/embedding.py (BasicEmbedding = Embedding;
    # SquashedEmbedding inherits Embedding.__init__)
    "keras.layers.Embedding": _LAYER,
    "keras.layers.BasicEmbedding": _LAYER,
    "keras.layers.SquashedEmbedding": _LAYER,
    "keras.layers.FieldWiseEmbedding": [
        ("embedding_size", REQUIRED), ("nslots", REQUIRED),
        ("slot_map_fn", None), ("key_dtype", tf.int64),
        ("value_dtype", tf.float32), ("combiner", "sum"),
        ("initializer", None), ("devices", None),
        ("name", "SlotDynamicEmbeddingLayer"), ("with_unique", True),
        ("**kwargs", VAR)],
    # keras/models.py (de_save_model), keras/callbacks.py
    # (DEHvdModelCheckpoint(callbacks.ModelCheckpoint))
    "keras.models.save_model": [
        ("model", REQUIRED), ("filepath", REQUIRED), ("overwrite", True),
        ("include_optimizer", True), ("signatures", None), ("options", None),
        ("save_traces", True), ("*args", VAR), ("**kwargs", VAR)],
    "keras.callbacks.ModelCheckpoint": [("*args", VAR), ("**kwargs", VAR)],
}

# Name -> {added parameter: why}.
EXTENSIONS = {
    "Variable.upsert": {"scores": "custom eviction scores of a bounded "
                                  "(CUSTOMIZED) table"},
    "Variable.restrict": {"trigger": "TFRA reads it from **kwargs; named "
                                     "here, same meaning"},
    "CuckooHashTable.insert": {
        "scores": "custom eviction scores of a bounded table",
        "return_dropped": "the keys a bounded table evicted or refused"},
    "CuckooHashTable.accum": {
        "return_dropped": "the keys a bounded table evicted or refused"},
    "CuckooHashTableConfig": {
        arg: "TFRA's config has no knobs; ours holds the table's tuning and "
             "bounds (capacity, eviction, TTL, admission, change tracking)"
        for arg in ("num_shards", "max_capacity", "evict_strategy", "ttl",
                    "admit_after", "sketch_width", "track_changes",
                    "gen_scores_fn")},
    "KVCreator.create": {
        "shard_saveable_object_fn": "passed on to the table, as "
                                    "CuckooHashTableCreator.create takes it"},
    "FileSystemSaver": {"max_to_keep": "prunes the side files of old "
                                       "checkpoints"},
    "TrainableWrapper.update_op": {"name": "op name of the write"},
    **{f"{cls}.apply_restriction": {
        "trigger": "TFRA reads it from **kwargs; named here, same meaning"}
       for cls in ("RestrictPolicy", "TimestampRestrictPolicy",
                   "FrequencyRestrictPolicy")},
}

# Name -> (our parameters, why they differ).
DIFFERENT = {
    "TrainableWrapper": (
        [("params", REQUIRED), ("name", REQUIRED), ("max_norm", None),
         ("trainable", True)],
        "lookups create one wrapper per (variable, lookup name) and load "
        "each batch's ids into it; TFRA's wrapper is built from one ids "
        "tensor and a ResourceVariable's arguments. Users do not construct "
        "either"),
    "TrainableWrapper.read_value": (
        [], "reads the rows the latest lookup loaded; prefetch_values() "
            "reads them from the table again (TFRA's do_prefetch=True)"),
    "Variable.export_keys_and_scores": (
        [("split_size", None), ("name", None)],
        "split_size is optional and ignored: one export op per shard (TFRA "
        "supports the method on HKV tables only, where it pages the "
        "export)"),
    "keras.callbacks.ModelCheckpoint": (
        [("filepath", REQUIRED), ("**kwargs", VAR)],
        "TFRA forwards *args to Keras's ModelCheckpoint; ours names "
        "filepath and forwards the keyword arguments (every "
        "ModelCheckpoint argument after filepath is a keyword in practice)"),
}


def _resolve(name, flavour):
  """The object `name` names under `de` (layers: of Keras `flavour`)."""
  if name.startswith("keras.layers."):
    return getattr(getattr(de.keras.layers, flavour), name.split(".")[-1])
  obj = de
  for part in name.split("."):
    obj = getattr(obj, part)
  return obj


def _ours(obj):
  """`[(name, default)]` of `obj`'s signature, `self` left out."""
  if inspect.isclass(obj):
    obj = obj.__init__
  params = []
  for i, p in enumerate(inspect.signature(obj).parameters.values()):
    if i == 0 and p.name == "self" and obj is not de.DynamicEmbeddingOptimizer:
      continue
    if p.kind == p.VAR_POSITIONAL:
      params.append((f"*{p.name}", VAR))
    elif p.kind == p.VAR_KEYWORD:
      params.append((f"**{p.name}", VAR))
    else:
      params.append((p.name, p.default))
  return params


def _comparable(params):
  """Defaults as comparable values (the partitioner by identity)."""
  return [(n, PARTITION_FN if d is de.default_partition_fn else d)
          for n, d in params]


def _cases():
  for name in sorted(TFRA_0_8_1):
    flavours = ("keras3", "tf_keras") if name.startswith("keras.layers.") \
        else ("",)
    for flavour in flavours:
      yield pytest.param(name, flavour, id=f"{name}-{flavour}" if flavour
                         else name)


@pytest.mark.parametrize("name,flavour", list(_cases()))
def test_signature_matches_tfra(name, flavour):
  ours = _comparable(_ours(_resolve(name, flavour)))
  if name in DIFFERENT:
    assert ours == DIFFERENT[name][0]
    return
  added = EXTENSIONS.get(name, {})
  for arg in added:
    assert dict(ours).get(arg, REQUIRED) is not REQUIRED, \
        f"{name}: added argument {arg} must exist and have a default"
  assert [p for p in ours if p[0] not in added] == TFRA_0_8_1[name]
  # Added arguments follow TFRA's (or sit just before **kwargs), so every
  # positional TFRA call binds the same way.
  tfra_positional = [n for n, d in TFRA_0_8_1[name] if d is not VAR]
  assert [n for n, _ in ours[:len(tfra_positional)]] == tfra_positional


def test_every_allowed_difference_names_a_checked_signature():
  assert set(EXTENSIONS) <= set(TFRA_0_8_1)
  assert set(DIFFERENT) <= set(TFRA_0_8_1)
  assert not set(EXTENSIONS) & set(DIFFERENT)

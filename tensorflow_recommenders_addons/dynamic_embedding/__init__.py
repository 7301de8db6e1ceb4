"""Dynamic embeddings: hash-table backed embedding storage (`de`).

Variables and lookups:
  Variable                       embedding table keyed by raw ids, sharded
  get_variable                   named variables with scope reuse
  default_partition_fn           key -> shard routing
  embedding_lookup               like tf.nn.embedding_lookup
  embedding_lookup_unique        deduplicating lookup
  embedding_lookup_sparse        like tf.nn.embedding_lookup_sparse
  safe_embedding_lookup_sparse   like tf.nn.safe_embedding_lookup_sparse
  TrainableWrapper               the variable gradients reach
  unique                         fast batch deduplication
  segment_sum_rows               fast merge of duplicate ids' rows
  shadow_ops                     ShadowVariable + its lookup (eager/Keras)

Serving and persistence:
  enable_inference_mode          lookups become read-only (serving threads)
  enable_train_mode              back to trainable lookups (the default)
  get_model_mode / ModelMode     the current mode
  FileSystemSaver                checkpoints keep table rows in side files
  export_static / StaticModel    a trained model with its tables frozen into
                                 static lookups: no custom op, TFLite-ready

Training:
  DynamicEmbeddingOptimizer      lets a Keras 3 or tf_keras optimizer train
                                 de.Variables
  keras                          de.keras.layers: embedding layers for Keras 3
                                 and tf_keras (imported on first use)

Bounded tables:
  TimestampRestrictPolicy  restrict() keeps the most recently written rows
  FrequencyRestrictPolicy  restrict() keeps the most often written rows
  EvictStrategy            LRU / LFU / TTL / CUSTOMIZED eviction of a
                           CuckooHashTableConfig(max_capacity=...)

Tables and their creators:
  CuckooHashTable          the CPU hash table (TFRA-compatible name)
  CuckooHashTableConfig    its tuning knobs and bounds (capacity, eviction,
                           admission, TTL, change tracking)
  KVCreator                base class of table creators (pluggable backends)
  CuckooHashTableCreator   the default creator
  register_kv_creator      makes a creator class rebuildable from its config
  kv_creator_from_config   rebuilds a registered creator from get_config()

TFRA helpers:
  math                     sparse_fill_empty_rows, sparse_reshape,
                           sparse_segment_sum
  data_flow                dynamic_partition, dynamic_stitch
  train                    Checkpoint (tf.train.Checkpoint, TFRA's name)
"""

from tensorflow_recommenders_addons.dynamic_embedding import data_flow
from tensorflow_recommenders_addons.dynamic_embedding import keras_registration
from tensorflow_recommenders_addons.dynamic_embedding import math
from tensorflow_recommenders_addons.dynamic_embedding import shadow_ops
from tensorflow_recommenders_addons.dynamic_embedding import train
from tensorflow_recommenders_addons.dynamic_embedding import unavailable
from tensorflow_recommenders_addons.dynamic_embedding.file_system_saver import FileSystemSaver
from tensorflow_recommenders_addons.dynamic_embedding.lookup import embedding_lookup
from tensorflow_recommenders_addons.dynamic_embedding.lookup import embedding_lookup_sparse
from tensorflow_recommenders_addons.dynamic_embedding.lookup import embedding_lookup_unique
from tensorflow_recommenders_addons.dynamic_embedding.lookup import safe_embedding_lookup_sparse
from tensorflow_recommenders_addons.dynamic_embedding.model_mode import ModelMode
from tensorflow_recommenders_addons.dynamic_embedding.model_mode import enable_inference_mode
from tensorflow_recommenders_addons.dynamic_embedding.model_mode import enable_train_mode
from tensorflow_recommenders_addons.dynamic_embedding.model_mode import get_model_mode
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import DynamicEmbeddingOptimizer
from tensorflow_recommenders_addons.dynamic_embedding.partition import default_partition_fn
from tensorflow_recommenders_addons.dynamic_embedding.restrict_policies import FrequencyRestrictPolicy
from tensorflow_recommenders_addons.dynamic_embedding.restrict_policies import RestrictPolicy
from tensorflow_recommenders_addons.dynamic_embedding.restrict_policies import TimestampRestrictPolicy
from tensorflow_recommenders_addons.dynamic_embedding.static_model import StaticModel
from tensorflow_recommenders_addons.dynamic_embedding.static_model import export_static
from tensorflow_recommenders_addons.dynamic_embedding.tables.base import kv_creator_from_config
from tensorflow_recommenders_addons.dynamic_embedding.tables.base import register_kv_creator
from tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable import CuckooHashTable
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import CuckooHashTableConfig
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import CuckooHashTableCreator
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import EvictStrategy
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import KVCreator
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.dynamic_embedding.unique import segment_sum_rows
from tensorflow_recommenders_addons.dynamic_embedding.unique import unique
from tensorflow_recommenders_addons.dynamic_embedding.variable import Variable
from tensorflow_recommenders_addons.dynamic_embedding.variable_store import get_variable


# Saved models naming our layers and optimizers load without importing
# `de.keras` first (registered now with the Keras already imported, and with
# tf_keras when it is imported).
keras_registration.register_when_imported()


def __getattr__(name):
  # `de.keras` imports Keras (and tf_keras for that flavour); import it only
  # when used, so the rest of the package loads without either.
  if name == "keras":
    import importlib  # pylint: disable=import-outside-toplevel
    return importlib.import_module(f"{__name__}.keras")
  unavailable.check("de", name)  # TFRA's GPU and Redis tables: say so
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CuckooHashTable",
    "CuckooHashTableConfig",
    "CuckooHashTableCreator",
    "DynamicEmbeddingOptimizer",
    "EvictStrategy",
    "FileSystemSaver",
    "FrequencyRestrictPolicy",
    "KVCreator",
    "ModelMode",
    "RestrictPolicy",
    "StaticModel",
    "TimestampRestrictPolicy",
    "TrainableWrapper",
    "Variable",
    "data_flow",
    "default_partition_fn",
    "embedding_lookup",
    "embedding_lookup_sparse",
    "embedding_lookup_unique",
    "enable_inference_mode",
    "enable_train_mode",
    "export_static",
    "get_model_mode",
    "get_variable",
    "kv_creator_from_config",
    "keras",
    "math",
    "register_kv_creator",
    "safe_embedding_lookup_sparse",
    "segment_sum_rows",
    "shadow_ops",
    "unique",
]

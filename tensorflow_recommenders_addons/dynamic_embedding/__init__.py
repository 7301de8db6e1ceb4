"""Dynamic embeddings: hash-table backed embedding storage (`de`).

Tables and their creators:
  CuckooHashTable          the CPU hash table (TFRA-compatible name)
  CuckooHashTableConfig    its tuning knobs
  KVCreator                base class of table creators (pluggable backends)
  CuckooHashTableCreator   the default creator
"""

from tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable import CuckooHashTable
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import CuckooHashTableConfig
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import CuckooHashTableCreator
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import KVCreator

__all__ = [
    "CuckooHashTable",
    "CuckooHashTableConfig",
    "CuckooHashTableCreator",
    "KVCreator",
]

"""Table creators: the seam through which storage backends plug in."""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de


def test_creator_builds_a_working_table(samples, key_dtype, value_dtype):
  creator = de.CuckooHashTableCreator(de.CuckooHashTableConfig(num_shards=4))
  table = creator.create(key_dtype, value_dtype,
                         tf.zeros([2], value_dtype), name="emb")
  keys = samples.keys(key_dtype, 9)
  values = samples.values(value_dtype, [9, 2], seed=1)
  table.insert(keys, values)
  assert isinstance(table, de.CuckooHashTable)
  assert (table.name, table.dim) == ("emb", 2)
  samples.assert_same_content(samples.content(table),
                              samples.as_dict(keys, values))


def test_creator_passes_its_config_to_the_table():
  config = de.CuckooHashTableConfig(num_shards=8)
  table = de.CuckooHashTableCreator(config).create(tf.int64, tf.float32,
                                                   [0.0])
  assert table._config is config  # pylint: disable=protected-access


def test_explicit_config_overrides_the_creator_config():
  own = de.CuckooHashTableConfig(num_shards=2)
  table = de.CuckooHashTableCreator(de.CuckooHashTableConfig(8)).create(
      tf.int64, tf.float32, [0.0], config=own)
  assert table._config is own  # pylint: disable=protected-access


def test_creator_defaults():
  table = de.CuckooHashTableCreator().create(tf.int64, tf.float32, [0.0])
  assert table.name == "CuckooHashTable"
  assert int(table.size()) == 0


def test_creator_checkpoint_false_is_passed_on(tmp_path):
  table = de.CuckooHashTableCreator().create(tf.int64, tf.float32, [0.0],
                                             checkpoint=False)
  table.insert([1], [[1.0]])
  path = tf.train.Checkpoint(table=table).save(str(tmp_path / "ckpt"))
  names = [n for n, _ in tf.train.list_variables(path)]
  assert [n for n in names if n.startswith("table/")] == []


def test_creator_get_config_round_trips_num_shards():
  creator = de.CuckooHashTableCreator(de.CuckooHashTableConfig(num_shards=16))
  config = creator.get_config()
  assert config == {"class_name": "CuckooHashTableCreator",
                    "config": {"num_shards": 16, "max_capacity": 0,
                               "evict_strategy": "lru", "ttl": 0,
                               "admit_after": 0, "sketch_width": 4096,
                               "track_changes": False},
                    "saver": None}
  rebuilt = de.CuckooHashTableCreator.from_config(config)
  assert rebuilt.get_config() == config


def test_creator_get_config_round_trips_its_file_system_saver(tmp_path):
  saver = de.FileSystemSaver(proc_size=2, proc_rank=1, save_path=str(tmp_path),
                             buffer_size=1 << 16, max_to_keep=3)
  config = de.CuckooHashTableCreator(saver=saver).get_config()
  rebuilt = de.CuckooHashTableCreator.from_config(config)
  assert isinstance(rebuilt.saver, de.FileSystemSaver)
  assert rebuilt.saver.get_config() == saver.get_config()
  assert (rebuilt.saver.proc_size, rebuilt.saver.proc_rank) == (2, 1)


def test_creator_keeps_its_saver():
  saver = object()
  assert de.CuckooHashTableCreator(saver=saver).saver is saver


def test_kv_creator_is_abstract():
  with pytest.raises(TypeError):
    de.KVCreator()  # pylint: disable=abstract-class-instantiated


def test_custom_kv_creator_plugs_in(samples):

  class Doubling(de.KVCreator):
    """A backend that stores every row twice as wide."""

    def create(self, key_dtype=None, value_dtype=None, default_value=None,
               name=None, checkpoint=None, init_size=None, config=None,
               device=None, shard_saveable_object_fn=None):
      default = tf.concat([default_value, default_value], 0)
      return de.CuckooHashTable(key_dtype, value_dtype, default, name=name)

  table = Doubling().create(tf.int64, tf.float32, tf.constant([1.0]),
                            name="t")
  assert table.dim == 2
  np.testing.assert_array_equal(table.lookup([3]).numpy(), [[1.0, 1.0]])
  assert Doubling().get_config() == {"class_name": "Doubling", "config": None,
                                     "saver": None}


def test_config_get_config_round_trips_bounds():
  config = de.CuckooHashTableConfig(
      num_shards=4, max_capacity=100, evict_strategy=de.EvictStrategy.LFU,
      ttl=7, admit_after=3, sketch_width=64, track_changes=True)
  assert de.CuckooHashTableConfig(**config.get_config()).get_config() == \
      config.get_config()
  assert config.bounded


@pytest.mark.parametrize("kwargs,arg", [
    ({"max_capacity": -1}, "max_capacity"),
    ({"evict_strategy": "fifo"}, "evict_strategy"),
    ({"ttl": 1.5}, "ttl"),
    ({"admit_after": 256}, "admit_after"),
    ({"sketch_width": 100}, "sketch_width"),
    ({"track_changes": 1}, "track_changes"),
    ({"evict_strategy": "custom"}, "gen_scores_fn"),
    ({"gen_scores_fn": 3}, "gen_scores_fn"),
])
def test_config_rejects_bad_bounds(kwargs, arg):
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    de.CuckooHashTableConfig(**kwargs)

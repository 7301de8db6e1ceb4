"""de.get_variable: TensorFlow's variable-scope reuse rule."""

import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de


def test_same_name_in_same_scope_is_the_same_variable():
  with tf.compat.v1.variable_scope("gv_same"):
    a = de.get_variable("emb", dim=3)
    b = de.get_variable("emb", dim=3)
  assert a is b and a.name == "gv_same/emb"


def test_other_scope_is_another_variable():
  with tf.compat.v1.variable_scope("gv_a"):
    a = de.get_variable("emb", dim=3)
  with tf.compat.v1.variable_scope("gv_b"):
    b = de.get_variable("emb", dim=3)
  assert a is not b and b.name == "gv_b/emb"


def test_tf2_scopes_always_auto_reuse():
  with tf.compat.v1.variable_scope("gv_auto", reuse=False):
    a = de.get_variable("emb", dim=3)
    assert de.get_variable("emb", dim=3) is a


def test_graph_mode_reuse_flags_are_enforced():
  with tf.Graph().as_default():
    with tf.compat.v1.variable_scope("gv_graph_reuse", reuse=True):
      with pytest.raises(ValueError, match="does not exist"):
        de.get_variable("missing", dim=3)
    with tf.compat.v1.variable_scope("gv_graph"):
      de.get_variable("emb", dim=3)
      with pytest.raises(ValueError, match="already exists"):
        de.get_variable("emb", dim=3)
    with tf.compat.v1.variable_scope("gv_graph", reuse=True):
      assert de.get_variable("emb", dim=3).name == "gv_graph/emb"


def test_existing_with_other_dim_is_an_error():
  with tf.compat.v1.variable_scope("gv_dim"):
    de.get_variable("emb", dim=3)
    with pytest.raises(ValueError, match="dim"):
      de.get_variable("emb", dim=4)


def test_arguments_reach_the_variable():
  with tf.compat.v1.variable_scope("gv_args"):
    var = de.get_variable("emb", key_dtype=tf.string, dim=2,
                          devices=["/CPU:0", "/CPU:1"], initializer=3.0,
                          trainable=False, bp_v2=True)
  assert var.key_dtype == tf.string and var.shard_num == 2
  assert not var.trainable and var.bp_v2
  assert var.lookup(["x"]).numpy().tolist() == [[3.0, 3.0]]


def test_created_inside_tf_function_owns_eager_tables():
  @tf.function
  def make_and_read(ids):
    with tf.compat.v1.variable_scope("gv_fn"):
      var = de.get_variable("emb", dim=2, initializer=1.0)
    return var.lookup(ids)

  assert make_and_read(tf.constant([1], tf.int64)).numpy().tolist() == \
      [[1.0, 1.0]]
  with tf.compat.v1.variable_scope("gv_fn"):
    var = de.get_variable("emb", dim=2)
  var.upsert([1], [[2.0, 2.0]])  # eager use of the same tables
  assert var.lookup([1]).numpy().tolist() == [[2.0, 2.0]]


def test_graph_and_eager_stores_are_separate():
  with tf.Graph().as_default():
    with tf.compat.v1.variable_scope("gv_sep"):
      graph_var = de.get_variable("emb", dim=2)
  with tf.compat.v1.variable_scope("gv_sep"):
    assert de.get_variable("emb", dim=2) is not graph_var

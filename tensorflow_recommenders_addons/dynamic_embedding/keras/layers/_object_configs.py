"""Layer config entries for the non-Keras objects a layer takes: its
`kv_creator` (with its table config and `de.FileSystemSaver`) and its
`restrict_policy` class, so that `.keras` files and SavedModels rebuild
layers with the same bounds, saver and policy.

A creator whose class is registered (`de.register_kv_creator`; the built-in
`de.CuckooHashTableCreator` is) becomes plain data; a CUSTOMIZED
`gen_scores_fn` in its config goes through Keras function serialization
(register it to reload). Other creators and policies stay objects, which
works in memory (`from_config(get_config())`) but not in a file; they must
be passed again.
"""

from tensorflow_recommenders_addons.dynamic_embedding import restrict_policies
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers._base import deserialize_fn
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers._base import serialize_fn
from tensorflow_recommenders_addons.dynamic_embedding.tables import base

_POLICIES = {cls.__name__: cls for cls in (
    restrict_policies.TimestampRestrictPolicy,
    restrict_policies.FrequencyRestrictPolicy)}


def serialize_creator(keras, creator):
  """A config entry for `kv_creator` (None stays None)."""
  if creator is None or not base.registered_kv_creator(creator):
    return creator
  config = creator.get_config()
  fn = getattr(creator.config, "gen_scores_fn", None)
  config["gen_scores_fn"] = serialize_fn(keras, fn)
  return config


def deserialize_creator(keras, config):
  """Inverse of `serialize_creator`."""
  if not isinstance(config, dict):
    return config
  fn = deserialize_fn(keras, "gen_scores_fn", config.get("gen_scores_fn"))
  return base.kv_creator_from_config(config, gen_scores_fn=fn)


def serialize_policy(policy):
  """A config entry for `restrict_policy`: the built-in classes by name."""
  if isinstance(policy, type) and _POLICIES.get(policy.__name__) is policy:
    return policy.__name__
  return policy


def deserialize_policy(config):
  """Inverse of `serialize_policy`."""
  if isinstance(config, str):
    if config not in _POLICIES:
      raise ValueError(f"restrict_policy: unknown policy {config!r}; one of "
                       f"{sorted(_POLICIES)}")
    return _POLICIES[config]
  return config

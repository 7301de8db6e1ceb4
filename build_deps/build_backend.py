"""PEP 517 build backend: setuptools, plus TensorFlow for isolated builds.

The op libraries compile against TensorFlow's headers, so an isolated build
(`pip wheel .`, `python -m build`) needs TensorFlow in its build
environment. The requirement is read from
tensorflow_recommenders_addons/version.py (the one place the TensorFlow range
is written) instead of being repeated in pyproject.toml. Everything else is
setuptools.build_meta unchanged.
"""

import os

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _version_scope():
  scope = {}
  path = os.path.join(_ROOT, "tensorflow_recommenders_addons", "version.py")
  with open(path, encoding="utf-8") as f:
    exec(compile(f.read(), path, "exec"), scope)  # pylint: disable=exec-used
  return scope


def get_requires_for_build_wheel(config_settings=None):
  """setuptools' build requirements plus TensorFlow (version.py)."""
  return (list(_setuptools.get_requires_for_build_wheel(config_settings)) +
          list(_version_scope()["BUILD_TF_REQUIREMENTS"]))


def get_requires_for_build_editable(config_settings=None):
  """As for a wheel: an editable install compiles the op libraries too."""
  return (list(_setuptools.get_requires_for_build_editable(config_settings)) +
          list(_version_scope()["BUILD_TF_REQUIREMENTS"]))

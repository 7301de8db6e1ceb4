"""`tfra-demo`: the package's end-to-end demo (TFRS on dynamic embeddings).

Run it as `tfra-demo` (console script) or
`python -m tensorflow_recommenders_addons.demo`; `--help` lists the options.

  cli        options, one-line errors, entry point `main`
  data       synthetic MovieLens-shaped data, MovieLens 100K/1M readers,
             the per-user temporal split
  models     the TFRS retrieval and ranking models and their servable
             modules (needs tf_keras as tf.keras; `cli.main` arranges it)
  metrics    recall@K, RMSE, AUC and their baselines (NumPy)
  pipeline   the steps, end to end
"""

from tensorflow_recommenders_addons.demo.cli import main

__all__ = ["main"]

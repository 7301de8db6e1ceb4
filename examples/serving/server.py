"""Serves top-k item recommendations over HTTP from an exported two-tower model.

Loads what examples/serving/train_and_export.py wrote: the user tower
SavedModel (its `serve` and `known` functions look user ids up in the
dynamic-embedding table, read-only) and the Voyager HNSW index of the item
embeddings (see train_and_export.py for why Voyager). Uses only the standard
library's `http.server`: a `ThreadingHTTPServer` answers each request in its
own thread; the SavedModel's lookups only read the table, and Voyager
queries are safe from many threads, so requests share one model and one
index without a lock.

  GET /recommendations/<user_id>?k=10
      200 {"user_id": ..., "k": ..., "known_user": bool,
           "items": [{"item_id": ..., "score": ...}, ...]}
      Scores are dot products of unit vectors (cosine similarity), in
      descending order. A user not seen in training gets the cold-start
      embedding ("known_user": false).
      400 {"error": "k: ..."} when k is not an integer in [1, max_k], where
      max_k is the smaller of the number of items and --max-k.
  GET /healthz
      200 {"status": "ok", "items": <number of items>}
  Anything else: 404 {"error": ...}.

Run: python examples/serving/server.py --export-dir /tmp/retrieval --port 8080
(`--port 0` picks a free port; the first line on stdout says which:
`serving on http://127.0.0.1:PORT`).
"""

import argparse
import http.server
import json
import os
import signal
import sys
import urllib.parse

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
import voyager  # pylint: disable=wrong-import-position

import tensorflow_recommenders_addons as tfra  # pylint: disable=wrong-import-position

DEFAULT_K = 10
MAX_K = 1000
_PREFIX = "/recommendations/"


class BadRequest(ValueError):
  """A request argument is invalid; the message names it."""


class Recommender:
  """The exported user tower and item index.

  Args:
    export_dir: The directory written by `train_and_export.export`.
    max_k: The largest `k` a request may ask for (capped at the number of
      items).
  """

  def __init__(self, export_dir, max_k=MAX_K):
    # The SavedModel's functions call this package's ops: register them
    # before loading.
    tfra.register_all()
    self.model = tf.saved_model.load(os.path.join(export_dir, "user_tower"))
    self.index = voyager.Index.load(os.path.join(export_dir, "items.voy"))
    with open(os.path.join(export_dir, "items.json"), encoding="utf-8") as f:
      self.item_ids = json.load(f)["item_ids"]
    if len(self.index) != len(self.item_ids):
      raise ValueError(f"{export_dir}: the index holds {len(self.index)} "
                       f"items, items.json {len(self.item_ids)}")
    self.max_k = min(max_k, len(self.item_ids))

  def parse_k(self, values):
    """The `k` of a query string's values (a list, or None: the default).

    Raises:
      BadRequest: not one integer in [1, max_k].
    """
    if values is None:
      return min(DEFAULT_K, self.max_k)
    if len(values) != 1:
      raise BadRequest("k: give it once")
    try:
      k = int(values[0])
    except ValueError:
      raise BadRequest(f"k: not an integer: {values[0]!r}") from None
    if not 1 <= k <= self.max_k:
      raise BadRequest(f"k: must be in [1, {self.max_k}], got {k}")
    return k

  def recommend(self, user_id, k):
    """The response body for `user_id`'s top `k` items (a dict)."""
    ids = tf.constant([user_id])
    query = self.model.serve(ids).numpy()[0].astype(np.float32)
    known = bool(self.model.known(ids).numpy()[0])
    # A search depth of at least k finds k neighbours at good recall.
    labels, distances = self.index.query(query, k=k, query_ef=max(64, 2 * k))
    # Inner-product space: distance = 1 - dot product.
    items = [{"item_id": self.item_ids[label], "score": float(1.0 - d)}
             for label, d in zip(labels.tolist(), distances.tolist())]
    return {"user_id": user_id, "k": k, "known_user": known, "items": items}


class Handler(http.server.BaseHTTPRequestHandler):
  """Answers GET requests with JSON (see the module docstring)."""

  recommender = None  # set by `make_server`
  quiet = True

  def do_GET(self):  # pylint: disable=invalid-name
    """Routes a GET request."""
    url = urllib.parse.urlsplit(self.path)
    if url.path == "/healthz":
      self._send(200, {"status": "ok",
                       "items": len(self.recommender.item_ids)})
      return
    if not url.path.startswith(_PREFIX) or len(url.path) == len(_PREFIX):
      self._send(404, {"error": f"not found: {url.path}"})
      return
    user_id = urllib.parse.unquote(url.path[len(_PREFIX):])
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    try:
      k = self.recommender.parse_k(query.get("k"))
    except BadRequest as e:
      self._send(400, {"error": str(e)})
      return
    try:
      body = self.recommender.recommend(user_id, k)
    except (tf.errors.OpError, voyager.RecallError) as e:
      self.log_error("GET %s failed: %r", self.path, e)
      self._send(500, {"error": f"{type(e).__name__}: {e}"})
      return
    self._send(200, body)

  def _send(self, status, body):
    data = json.dumps(body).encode("utf-8")
    self.send_response(status)
    self.send_header("Content-Type", "application/json")
    self.send_header("Content-Length", str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    """Logs requests to stderr unless the server is quiet."""
    if not self.quiet:
      super().log_message(format, *args)


def make_server(export_dir, port, host="127.0.0.1", max_k=MAX_K,
                quiet=True):
  """A `ThreadingHTTPServer` serving `export_dir`'s model, bound but not
  yet serving (call `serve_forever`); `port` 0 picks a free port
  (`server.server_address[1]`)."""
  handler = type("BoundHandler", (Handler,), {
      "recommender": Recommender(export_dir, max_k), "quiet": quiet})
  server = http.server.ThreadingHTTPServer((host, port), handler)
  server.daemon_threads = True
  return server


def main(argv=None):
  """Command line entry point: serves until interrupted or terminated."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--export-dir", required=True)
  parser.add_argument("--port", type=int, default=8080,
                      help="0 picks a free port")
  parser.add_argument("--host", default="127.0.0.1")
  parser.add_argument("--max-k", type=int, default=MAX_K)
  parser.add_argument("--log-requests", action="store_true")
  args = parser.parse_args(argv)
  server = make_server(args.export_dir, args.port, args.host, args.max_k,
                       quiet=not args.log_requests)
  host, port = server.server_address[:2]
  # SIGTERM stops the server like Ctrl-C: the socket is closed on the way out.
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
  print(f"serving on http://{host}:{port}", flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()
  return 0


if __name__ == "__main__":
  sys.exit(main())

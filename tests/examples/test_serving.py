"""The serving example (examples/serving/): a tiny two-tower model is trained
and exported (user tower SavedModel + Voyager item index), served by
server.py in a subprocess on a free 127.0.0.1 port, and queried over HTTP."""

import concurrent.futures
import importlib.util
import json
import os
import select
import subprocess
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_recommenders_addons as tfra

import pyproc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
SERVING = os.path.join(ROOT, "examples", "serving")
NUM_ITEMS = 100
# The table reads of a lookup; every other TFRA op writes (or exports).
READ_ONLY_TFRA_OPS = {"TFRA>HashTableFind",
                      "TFRA>HashTableFindWithExists", "TFRA>Unique",
                      "TFRA>SegmentSumRows"}
KNOWN_USERS = ["user_0", "user_7", "user_42", "user_123", "user_299"]


def _load(name):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(SERVING, f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """A tiny model trained and exported (a few seconds): (dir, result)."""
  export_dir = tmp_path_factory.mktemp("serving")
  result = _load("train_and_export").train_and_export(
      str(export_dir), num_users=300, num_items=NUM_ITEMS, clusters=10,
      pairs_per_user=10, dim=16, batch_size=128, epochs=3)
  return export_dir, result


def _wait_for_url(proc, deadline):
  """The URL of the first `serving on URL` line of `proc`'s stdout."""
  while time.monotonic() < deadline:
    ready, _, _ = select.select([proc.stdout], [], [], 0.5)
    if ready:
      line = proc.stdout.readline()
      if line.startswith("serving on "):
        return line.split()[-1]
      if not line:
        break
    if proc.poll() is not None:
      break
  return None


@pytest.fixture(scope="module")
def server(exported):
  """The base URL of server.py serving `exported`; stopped afterwards."""
  export_dir, _ = exported
  log_path = export_dir / "server.log"
  with open(log_path, "w", encoding="utf-8") as log:
    proc = subprocess.Popen(
        pyproc.python(os.path.join(SERVING, "server.py"), "--export-dir",
                      str(export_dir), "--port", "0"),
        stdout=subprocess.PIPE, stderr=log, text=True, cwd=str(export_dir))
  try:
    url = _wait_for_url(proc, time.monotonic() + 60)
    assert url is not None and url.startswith("http://127.0.0.1:"), (
        log_path.read_text(encoding="utf-8")[-3000:])
    yield url
  finally:
    proc.terminate()
    try:
      proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.wait()
    proc.stdout.close()


def _get(url):
  """(status, parsed JSON body) of a GET request."""
  try:
    with urllib.request.urlopen(url, timeout=30) as response:
      return response.status, json.loads(response.read())
  except urllib.error.HTTPError as e:
    with e:
      return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def loaded(exported):
  """The exported user tower, loaded in this process."""
  tfra.register_all()  # the SavedModel calls the package's ops
  return tf.saved_model.load(str(exported[0] / "user_tower"))


@pytest.fixture(scope="module")
def exact(exported, loaded):
  """user id -> exact item scores [NUM_ITEMS] (the exported user tower's
  embedding against every item embedding), and the item ids."""
  export_dir, _ = exported
  users = loaded.serve(tf.constant(KNOWN_USERS)).numpy()
  items = np.load(export_dir / "item_embeddings.npy")
  with open(export_dir / "items.json", encoding="utf-8") as f:
    item_ids = json.load(f)["item_ids"]
  return dict(zip(KNOWN_USERS, users @ items.T)), item_ids


def _op_types(function):
  """The op types of a loaded function's graph and the functions it calls."""
  graph = function.get_concrete_function(
      tf.TensorSpec([None], tf.string)).graph.as_graph_def()
  return {node.op for node in graph.node} | {
      node.op for f in graph.library.function for node in f.node_def}


def test_training_lowers_the_loss(exported):
  losses = exported[1]["losses"]
  assert losses[-1] < losses[0], losses


def test_export_has_every_trained_id(exported):
  _, result = exported
  assert len(result["users"]) == 300 and len(result["items"]) == NUM_ITEMS


@pytest.mark.parametrize("name", ["serve", "known"])
def test_exported_functions_only_read(loaded, name):
  """Traced in inference mode, the served lookups write no table row and no
  variable (a training-mode Keras 3 layer call assigns its row buffer's
  flag)."""
  ops = _op_types(getattr(loaded, name))
  assert "TFRA>HashTableFindWithExists" in ops
  assert {op for op in ops if op.startswith("TFRA>")} <= READ_ONLY_TFRA_OPS
  assert [op for op in ops if "Assign" in op or op.startswith(
      ("ResourceScatter", "ResourceApply"))] == []


def test_unknown_users_are_not_known_and_get_the_cold_start(loaded):
  ids = tf.constant(["user_7", "never-seen-1", "never-seen-2"])
  assert loaded.known(ids).numpy().tolist() == [True, False, False]
  embeddings = loaded.serve(ids).numpy()
  np.testing.assert_array_equal(embeddings[1], embeddings[2])
  np.testing.assert_allclose(embeddings[1], loaded.cold_start.numpy())
  np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0,
                             rtol=1e-5)


def test_healthz(server):
  assert _get(f"{server}/healthz") == (200, {"status": "ok",
                                             "items": NUM_ITEMS})


def test_known_user_gets_k_items_by_descending_score(server):
  status, body = _get(f"{server}/recommendations/user_7?k=10")
  assert status == 200
  assert (body["user_id"], body["k"], body["known_user"]) == ("user_7", 10,
                                                              True)
  scores = [item["score"] for item in body["items"]]
  assert len(scores) == 10 and scores == sorted(scores, reverse=True)
  assert len({item["item_id"] for item in body["items"]}) == 10


@pytest.mark.parametrize("user", KNOWN_USERS)
def test_top_items_match_brute_force(server, exact, user):
  """The index's top 10 agree with exact dot products (ANN recall >= 0.8),
  and each score is the item's exact dot product."""
  scores, item_ids = exact
  _, body = _get(f"{server}/recommendations/{user}?k=10")
  truth = {item_ids[i] for i in np.argsort(-scores[user])[:10]}
  served = [item["item_id"] for item in body["items"]]
  assert len(truth.intersection(served)) >= 8, (served, truth)
  position = {item_id: i for i, item_id in enumerate(item_ids)}
  np.testing.assert_allclose(
      [item["score"] for item in body["items"]],
      [scores[user][position[item_id]] for item_id in served], atol=1e-4)


def test_unknown_user_gets_the_same_cold_start_items(server):
  first = _get(f"{server}/recommendations/never-seen?k=5")
  second = _get(f"{server}/recommendations/never-seen?k=5")
  assert first[0] == 200 and first[1]["known_user"] is False
  assert len(first[1]["items"]) == 5
  assert second == first


def test_user_ids_are_percent_decoded(server):
  status, body = _get(f"{server}/recommendations/user%5F7?k=1")
  assert status == 200 and body["user_id"] == "user_7" and body["known_user"]


def test_k_defaults_to_10(server):
  status, body = _get(f"{server}/recommendations/user_7")
  assert status == 200 and body["k"] == 10 and len(body["items"]) == 10


def test_k_may_be_every_item(server):
  status, body = _get(f"{server}/recommendations/user_7?k={NUM_ITEMS}")
  assert status == 200 and len(body["items"]) == NUM_ITEMS


@pytest.mark.parametrize("k", ["abc", "", "1.5", "0", "-3",
                               str(NUM_ITEMS + 1), "5000"])
def test_bad_k_is_400_naming_k(server, k):
  status, body = _get(f"{server}/recommendations/user_7?k={k}")
  assert status == 400 and body["error"].startswith("k: "), body


@pytest.mark.parametrize("path", ["/", "/recommendations", "/recommendations/",
                                  "/users/user_7"])
def test_unknown_path_is_404(server, path):
  status, body = _get(f"{server}{path}")
  assert status == 404 and "error" in body


def test_concurrent_requests_all_succeed_and_agree(server):
  """8 threads x 10 requests over 5 users: every answer is 200 and equal to
  the answer a single request gets for that user."""
  urls = [f"{server}/recommendations/{KNOWN_USERS[i % 5]}?k=5"
          for i in range(80)]
  expected = {url: _get(url) for url in set(urls)}
  with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
    answers = list(pool.map(_get, urls))
  assert [status for status, _ in answers] == [200] * len(urls)
  assert answers == [expected[url] for url in urls]

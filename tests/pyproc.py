"""Commands for the tests' Python subprocesses, run through a fork server.

`python(*args)` is the argv of `python ARGS` for subprocess.run/Popen. Each
pytest process starts one fork server (tests/forkserver/server.py) on first
use, which imports TensorFlow once and forks a child per command, so a test
subprocess no longer pays the 6-9 s TensorFlow import; the child imports
this package, Keras and everything else itself, like any fresh program.
The command is a small proxy (tests/forkserver/proxy.py) with the
program's pid, signals, exit status and pipes; it runs a real interpreter
instead whenever the server cannot serve the command faithfully.

Keep plain `[sys.executable, ...]` for a subprocess whose own memory is
measured (a forked child's RSS includes the server's TensorFlow pages), for
programs that do not import TensorFlow (pip, venv, mkdocs), and where a
test kills the program and at once inspects what it left (the server kills
a killed command's program a moment later).
TFRA_TEST_FORKSERVER=0 turns the server off (every command a real
interpreter).

Example:
  proc = subprocess.run(pyproc.python("-c", "import tensorflow"), check=True)
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "forkserver", "server.py")
PROXY = os.path.join(HERE, "forkserver", "proxy.py")

_server = None  # (socket path, Popen) of this process's server


def _start():
  directory = tempfile.mkdtemp(prefix="tfra-fork-")
  path = os.path.join(directory, "socket")
  log = open(os.path.join(directory, "server.log"), "wb")  # pylint: disable=consider-using-with
  proc = subprocess.Popen([sys.executable, SERVER, path],  # pylint: disable=consider-using-with
                          stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                          cwd=directory)
  log.close()

  def stop():
    if proc.poll() is None:
      proc.send_signal(signal.SIGTERM)
      proc.wait()
    shutil.rmtree(directory, ignore_errors=True)

  atexit.register(stop)
  return path, proc


def enabled():
  """Whether commands go through the fork server."""
  return os.environ.get("TFRA_TEST_FORKSERVER", "1") != "0"


def python(*args):
  """argv running `python ARGS` (ARGS: script and arguments, `-c CODE ...`
  or `-m MODULE ...`), through this process's fork server when enabled.

  Args:
    *args: the interpreter's arguments, as strings.

  Returns:
    A list for subprocess.run / subprocess.Popen.
  """
  global _server  # pylint: disable=global-statement
  args = [str(a) for a in args]
  if not enabled():
    return [sys.executable] + args
  if _server is None or _server[1].poll() is not None:
    _server = _start()
  return [sys.executable, PROXY, _server[0], str(_server[1].pid)] + args

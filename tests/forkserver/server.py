"""A fork server for the test suite's Python subprocesses.

Most subprocess-based tests start a Python program that imports TensorFlow
first, and that import costs 6-9 s of CPU on the 2-core CI machine. This
server imports TensorFlow once and forks a child per request; each child
then runs the requested program (`script.py args`, `-c code args` or
`-m module args`) as a fresh interpreter would, with the requester's
argv, environment, working directory and stdin/stdout/stderr, and imports
everything else (this package, Keras, tf_keras) itself. Only TensorFlow's
own import is shared; no op has run, no device or eager context exists and
no thread is started in the server before it forks.

Requests come from tests/forkserver/proxy.py (see there for the protocol):
the proxy is what a test actually starts, so `subprocess` semantics (pid,
signals, exit status, pipes, timeouts) are the proxy's, and the proxy
forwards them. The server declines a request (the proxy then execs the
real interpreter) when it cannot run it faithfully: interpreter options
other than -c/-m, or an environment variable that only takes effect at
interpreter or TensorFlow start-up differing from the server's own.

Run: python server.py SOCKET_PATH  (tests/pyproc.py starts it)
The server binds SOCKET_PATH only once TensorFlow is imported, and exits
when its parent (the pytest process) is gone, killing its children.
"""

import json
import os
import select
import signal
import socket
import struct
import sys

# Variables read once, when the interpreter or TensorFlow starts: a request
# whose value differs from the server's is run by a real interpreter.
STARTUP_ONLY = ("PYTHONWARNINGS", "PYTHONHASHSEED", "PYTHONMALLOC",
                "PYTHONDEVMODE", "PYTHONFAULTHANDLER", "PYTHONOPTIMIZE",
                "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "PYTHONHOME",
                "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONDONTWRITEBYTECODE",
                "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONVERBOSE",
                "TF_CPP_MIN_LOG_LEVEL", "TF_CPP_MAX_VLOG_LEVEL",
                "TF_CPP_VMODULE", "TF_ENABLE_ONEDNN_OPTS",
                "CUDA_VISIBLE_DEVICES", "LD_PRELOAD", "LD_LIBRARY_PATH",
                "OMP_NUM_THREADS", "MALLOC_CONF", "TF_XLA_FLAGS",
                "XLA_FLAGS")
_HEADER = struct.Struct("!I")  # request length, then the JSON request


def _pythonpath(env):
  """The PYTHONPATH entries of an environment, in order."""
  return [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]


def _startup_env_differs(env):
  return any(env.get(k) != os.environ.get(k) for k in STARTUP_ONLY)


def _servable(argv):
  """argv (without the interpreter) is `script ...`, `-c code ...` or
  `-m module ...`."""
  if not argv:
    return False
  if argv[0] in ("-c", "-m"):
    return len(argv) >= 2
  return not argv[0].startswith("-")


def _recv_request(conn):
  """One request: (dict, [stdin, stdout, stderr fds]) or None on EOF."""
  data, fds = b"", []
  while len(data) < _HEADER.size:
    chunk, got, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    if not chunk:
      return None
    data += chunk
    fds += got
  size = _HEADER.unpack_from(data)[0]
  while len(data) < _HEADER.size + size:
    chunk = conn.recv(1 << 16)
    if not chunk:
      return None
    data += chunk
  return json.loads(data[_HEADER.size:].decode()), fds


class Server:
  """Accepts requests and forks children; single-threaded (select)."""

  def __init__(self, path):
    self.base_path = self._base_sys_path()
    self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self.listener.bind(path + ".tmp")
    self.listener.listen(64)
    os.rename(path + ".tmp", path)  # the path appears only when ready
    self.parent = os.getppid()
    self.conns = {}    # conn fd -> (socket, child pid or None)
    self.pidfds = {}   # pidfd -> (pid, conn socket)

  @staticmethod
  def _base_sys_path():
    """sys.path without its script directory and PYTHONPATH entries: what
    every child starts from."""
    extra = {os.path.abspath(p) for p in _pythonpath(os.environ)}
    return [p for p in sys.path[1:] if os.path.abspath(p) not in extra]

  def serve(self):
    """Runs until the parent is gone; returns (request, fds) in a child."""
    while True:
      if os.getppid() != self.parent:
        self._shutdown()
      waiting = [self.listener] + [c for c, _ in self.conns.values()]
      ready, _, _ = select.select(waiting + list(self.pidfds), [], [], 1.0)
      for item in ready:
        if item is self.listener:
          conn, _ = self.listener.accept()
          self.conns[conn.fileno()] = (conn, None)
        elif isinstance(item, int):
          self._reap(item)
        else:
          child = self._on_conn(item)
          if child is not None:
            return child

  def _on_conn(self, conn):
    _, pid = self.conns[conn.fileno()]
    if pid is not None:
      # The proxy only ever closes after the exit status: EOF before it
      # means the proxy was killed, and its child goes with it.
      if not conn.recv(1):
        os.kill(pid, signal.SIGKILL)
        self._drop(conn)
      return None
    try:
      got = _recv_request(conn)
    except (OSError, ValueError) as e:
      print(f"forkserver: bad request: {e}", file=sys.stderr)
      got = None
    if got is None:
      self._drop(conn)
      return None
    request, fds = got
    if (len(fds) != 3 or not _servable(request["argv"]) or
        _startup_env_differs(request["env"])):
      for fd in fds:
        os.close(fd)
      conn.sendall(b"fallback\n")
      self._drop(conn)
      return None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      self._close_all()
      return request, fds
    for fd in fds:
      os.close(fd)
    self.conns[conn.fileno()] = (conn, pid)
    self.pidfds[os.pidfd_open(pid)] = (pid, conn)
    conn.sendall(f"pid {pid}\n".encode())
    return None

  def _reap(self, pidfd):
    pid, conn = self.pidfds.pop(pidfd)
    os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    if conn.fileno() in self.conns:
      try:
        conn.sendall(f"exit {status}\n".encode())
      except OSError:
        pass
      self._drop(conn)

  def _drop(self, conn):
    self.conns.pop(conn.fileno(), None)
    conn.close()

  def _close_all(self):
    """In a child: nothing of the server's stays open."""
    self.listener.close()
    for conn, _ in self.conns.values():
      conn.close()
    for pidfd in self.pidfds:
      os.close(pidfd)

  def _shutdown(self):
    for pid, _ in self.pidfds.values():
      try:
        os.kill(pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
    os._exit(0)  # pylint: disable=protected-access


def _become(request, fds, base_path):
  """In the child: take the requester's stdio, directory, environment,
  argv and sys.path, as `python ARGV` started there would have them."""
  for target, fd in enumerate(fds):
    os.dup2(fd, target)
    os.close(fd)
  signal.signal(signal.SIGINT, signal.default_int_handler)
  signal.signal(signal.SIGTERM, signal.SIG_DFL)
  os.chdir(request["cwd"])
  os.environ.clear()
  os.environ.update(request["env"])
  argv = request["argv"]
  if argv[0] == "-c":
    first = ""
  elif argv[0] == "-m":
    first = os.getcwd()
  else:
    first = os.path.dirname(os.path.abspath(argv[0]))
  sys.path[:] = [first] + _pythonpath(request["env"]) + base_path
  if request["env"].get("PYTHONUNBUFFERED"):
    sys.stdout.reconfigure(write_through=True)
    sys.stderr.reconfigure(write_through=True)
  return argv


def _run(argv):
  """Runs the program; returns what the interpreter would keep alive until
  its finalization (the program's globals)."""
  import runpy  # pylint: disable=import-outside-toplevel
  import types  # pylint: disable=import-outside-toplevel
  if argv[0] == "-c":
    sys.argv = ["-c"] + argv[2:]
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    exec(compile(argv[1], "<string>", "exec"), main.__dict__)  # pylint: disable=exec-used
    return main.__dict__
  if argv[0] == "-m":
    sys.argv = [argv[1]] + argv[2:]
    return runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
  sys.argv = list(argv)
  return runpy.run_path(argv[0], run_name="__main__")


def _exit_status(code):
  if code is None:
    return 0
  if isinstance(code, int):
    return code & 0xFF
  print(code, file=sys.stderr)
  return 1


def _run_and_exit(argv):
  """Runs the program and exits as the interpreter does: a traceback and
  status 1 for an exception, SystemExit's status, death by SIGINT for an
  uncaught KeyboardInterrupt; then non-daemon threads are joined, atexit
  functions run and the program's own objects are released (so files it
  left open are flushed and closed). The interpreter's module teardown,
  ~1 s with TensorFlow loaded, is skipped (os._exit)."""
  import atexit  # pylint: disable=import-outside-toplevel
  import gc  # pylint: disable=import-outside-toplevel
  import threading  # pylint: disable=import-outside-toplevel
  status, interrupted, program = 0, False, {}
  try:
    program = _run(argv)
  except SystemExit as e:
    status = _exit_status(e.code)
  except KeyboardInterrupt:
    interrupted = True
  except BaseException:  # pylint: disable=broad-except
    sys.excepthook(*sys.exc_info())
    status = 1
  for thread in threading.enumerate():
    if thread is not threading.main_thread() and not thread.daemon:
      thread.join()
  atexit._run_exitfuncs()  # pylint: disable=protected-access
  program.clear()
  gc.collect()
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except (OSError, ValueError):
      pass
  if interrupted:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
  os._exit(status)  # pylint: disable=protected-access


if __name__ == "__main__":
  import tensorflow  # noqa: F401  pylint: disable=unused-import
  _server = Server(sys.argv[1])
  signal.signal(signal.SIGTERM, lambda *_: _server._shutdown())  # pylint: disable=protected-access
  _request, _fds = _server.serve()
  _run_and_exit(_become(_request, _fds, _server.base_path))

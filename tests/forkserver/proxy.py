"""What a test starts instead of `python ARGS`: runs ARGS in a child of the
fork server (server.py), or execs the real interpreter when it cannot.

  python proxy.py SOCKET_PATH SERVER_PID ARGS...

The proxy is a bare interpreter (no TensorFlow; ~20 ms to start) and stands
in for the program to the test:
- it hands the server its argv, environment, working directory and its
  stdin/stdout/stderr file descriptors (SCM_RIGHTS), so the child reads and
  writes the test's own pipes;
- it forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the
  child; if the proxy is killed (SIGKILL, a test's timeout), its connection
  closes and the server kills the child;
- it exits with the child's exit status, or by the child's signal.
When the server is not running (it failed to start or is gone), is not
ready within the start-up wait, or declines the request, the proxy execs
`python ARGS` itself: the test gets a real interpreter, never an error.

Protocol (one Unix-socket connection per request): the proxy sends a 4-byte
big-endian length and a JSON {argv, env, cwd}, the three fds attached to
the first bytes; the server answers `fallback` or `pid N`, then, when the
child has exited, `exit STATUS` (the raw wait status) and closes.
"""

import json
import os
import signal
import socket
import struct
import sys
import time

_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
              signal.SIGUSR1, signal.SIGUSR2)
_START_WAIT_S = 300  # the server imports TensorFlow before it binds


def _real_interpreter(args):
  os.execv(sys.executable, [sys.executable] + args)


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  return True


def _connect(path, server_pid):
  deadline = time.monotonic() + _START_WAIT_S
  while time.monotonic() < deadline:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
      sock.connect(path)
      return sock
    except (FileNotFoundError, ConnectionRefusedError):
      sock.close()
      if not _alive(server_pid):
        return None
      time.sleep(0.05)
  return None


def _stdio_fds():
  """fds 0-2 as they are; a closed one is replaced by /dev/null."""
  fds = []
  for fd in range(3):
    try:
      os.fstat(fd)
      fds.append(fd)
    except OSError:
      fds.append(os.open(os.devnull, os.O_RDWR))
  return fds


def _lines(sock):
  buf = b""
  while True:
    chunk = sock.recv(4096)
    if not chunk:
      return
    buf += chunk
    while b"\n" in buf:
      line, buf = buf.split(b"\n", 1)
      yield line.decode()


def main(argv):
  path, server_pid, args = argv[1], int(argv[2]), argv[3:]
  sock = _connect(path, server_pid)
  if sock is None:
    _real_interpreter(args)
  body = json.dumps({"argv": args, "env": dict(os.environ),
                     "cwd": os.getcwd()}).encode()
  message = struct.pack("!I", len(body)) + body
  socket.send_fds(sock, [message[:4]], _stdio_fds())
  sock.sendall(message[4:])
  replies = _lines(sock)
  first = next(replies, "")
  if not first.startswith("pid "):
    sock.close()
    _real_interpreter(args)
  child = int(first.split()[1])

  def forward(signum, _frame):
    try:
      os.kill(child, signum)
    except ProcessLookupError:
      pass

  for signum in _FORWARDED:
    signal.signal(signum, forward)
  status = None
  for line in replies:
    if line.startswith("exit "):
      status = int(line.split()[1])
  sock.close()
  if status is None:
    print("forkserver: the server went away before the program exited",
          file=sys.stderr)
    os._exit(1)  # pylint: disable=protected-access
  if os.WIFSIGNALED(status):
    sig = os.WTERMSIG(status)
    if sig not in (signal.SIGKILL, signal.SIGSTOP):  # these cannot be caught
      signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)  # pylint: disable=protected-access
  os._exit(os.waitstatus_to_exitcode(status))  # pylint: disable=protected-access


if __name__ == "__main__":
  main(sys.argv)

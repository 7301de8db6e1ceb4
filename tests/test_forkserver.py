"""The tests' fork server (tests/pyproc.py) runs a program as `python` would.

Each case runs one small program through `pyproc.python(...)` and checks
what a real interpreter guarantees: argv, sys.path[0], cwd, environment,
stdin/stdout/stderr, exit status, a traceback for an exception, atexit
functions and files flushed at exit, signals reaching the program, a killed
command taking its program with it, and a real interpreter when the server
cannot serve the command faithfully.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

import pyproc

pytestmark = pytest.mark.skipif(not pyproc.enabled(),
                                reason="TFRA_TEST_FORKSERVER=0")


def _run(*args, **kwargs):
  return subprocess.run(pyproc.python(*args), capture_output=True, text=True,
                        timeout=120, check=False, **kwargs)


def test_code_sees_argv_cwd_env_and_stdin(tmp_path):
  code = ("import os, sys; print(sys.argv, sys.path[0] == '', os.getcwd(), "
          "os.environ['PYPROC_TEST'], input())")
  proc = _run("-c", code, "a", "b c", cwd=str(tmp_path), input="line\n",
              env=dict(os.environ, PYPROC_TEST="yes"))
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.strip() == (f"['-c', 'a', 'b c'] True {tmp_path} yes "
                                 "line")


def test_script_runs_as_main_with_its_directory_first(tmp_path):
  script = tmp_path / "prog.py"
  script.write_text("import sys\nprint(__name__, sys.argv, sys.path[0])\n")
  proc = _run(script, "x")
  assert proc.stdout.strip() == f"__main__ ['{script}', 'x'] {tmp_path}"


def test_module_runs_as_main():
  proc = _run("-m", "json.tool", "--help")
  assert proc.returncode == 0 and proc.stdout.startswith("usage:")


@pytest.mark.parametrize("code,status,stderr", [
    ("import sys; sys.exit(3)", 3, ""),
    ("import sys; sys.exit('bye')", 1, "bye"),
    ("raise ValueError('boom')", 1, "ValueError: boom"),
    ("import os; os.kill(os.getpid(), 9)", -9, ""),
])
def test_exit_status_is_the_programs(code, status, stderr):
  proc = _run("-c", code)
  assert proc.returncode == status
  assert stderr in proc.stderr


def test_exit_runs_atexit_joins_threads_and_flushes_files(tmp_path):
  out = tmp_path / "out.txt"
  code = ("import atexit, threading, time\n"
          f"f = open({str(out)!r}, 'w'); f.write('data')\n"
          "atexit.register(lambda: print('atexit'))\n"
          "threading.Thread(target=lambda: (time.sleep(0.3), "
          "print('thread'))).start()\n")
  proc = _run("-c", code)
  assert proc.stdout.split() == ["thread", "atexit"]
  assert out.read_text() == "data"


def test_tensorflow_works_in_the_program():
  proc = _run("-c", "import tensorflow as tf; print(int(tf.constant(2) * 3))")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.strip() == "6"


def test_signals_reach_the_program_and_kill_takes_it_along(tmp_path):
  pid_file = tmp_path / "pid"
  code = ("import os, signal, sys, time\n"
          f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
          "signal.signal(signal.SIGUSR1, lambda *_: sys.exit(7))\n"
          "time.sleep(60)\n")
  proc = subprocess.Popen(pyproc.python("-c", code))
  _wait_for(pid_file)
  proc.send_signal(signal.SIGUSR1)
  assert proc.wait(timeout=60) == 7

  pid_file.unlink()
  proc = subprocess.Popen(pyproc.python("-c", code))
  _wait_for(pid_file)
  program = int(pid_file.read_text())
  assert program != proc.pid  # the program is the server's child
  proc.kill()
  assert proc.wait(timeout=60) == -signal.SIGKILL
  deadline = time.monotonic() + 30
  while _alive(program) and time.monotonic() < deadline:
    time.sleep(0.05)
  assert not _alive(program), "the program outlived its killed command"


def test_a_startup_setting_gets_a_real_interpreter():
  code = "import os, sys; print(os.getppid() == int(sys.argv[1]))"
  proc = _run("-c", code, str(os.getpid()),
              env=dict(os.environ, PYTHONHASHSEED="123"))
  # exec'd by the proxy: the interpreter is the test's own child
  assert proc.stdout.strip() == "True", proc.stderr


def _wait_for(path):
  deadline = time.monotonic() + 120
  while not (path.exists() and path.read_text()):
    assert time.monotonic() < deadline, "the program did not start"
    time.sleep(0.05)


def _alive(pid):
  try:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
      return f.read().split()[2] != "Z"
  except FileNotFoundError:
    return False


def test_the_real_interpreter_is_this_one():
  assert pyproc.python("-c", "pass")[0] == sys.executable

"""The installed library, used as an outside program would: make
install-check (part of make check) stages `make install` under
BUILD/stage and builds examples/tinyshell.c in BUILD/outside with only
pkg-config's flags; here that binary runs with LD_LIBRARY_PATH into the
stage, so it loads the staged libwhelk.so.0, and serves OpenSSH's ssh."""

import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, free_port

STAGE_LIB = os.path.join(BUILD, "stage", "usr", "local", "lib")
OUTSIDE = os.path.join(BUILD, "outside", "tinyshell")


@pytest.fixture
def staged_tinyshell(tmp_path, keys):
    assert os.path.exists(OUTSIDE), "run make install-check first"
    port = free_port()
    env = dict(os.environ, LD_LIBRARY_PATH=STAGE_LIB)
    log = open(tmp_path / "tinyshell.log", "wb")
    p = subprocess.Popen([OUTSIDE, "-p", str(port),
                          "-h", keys["host_ed25519"],
                          "-k", keys["authorized_keys"]],
                         stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert p.poll() is None and time.time() < deadline
                time.sleep(0.02)
        yield p, port
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(5)
        log.close()


def test_staged_shared_library_serves_ssh(staged_tinyshell, keys):
    p, port = staged_tinyshell
    # The process maps the staged shared library, not a copy linked in.
    with open(f"/proc/{p.pid}/maps") as f:
        maps = f.read()
    staged = os.path.realpath(os.path.join(STAGE_LIB, "libwhelk.so.0"))
    assert staged in maps
    r = subprocess.run(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
                        "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "LogLevel=ERROR", "-i", keys["ed25519"],
                        "-p", str(port), "someone@127.0.0.1",
                        "echo installed"],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "installed\n"), r.stderr

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


@pytest.fixture
def old_header_tinyshell(tmp_path, keys):
    """The ABI test's binary: built against tests/abi/old's frozen header
    (an older version, fewer setters), run on the current libwhelk.so."""
    exe = os.path.join(BUILD, "tests", "abi_old_tinyshell")
    assert os.path.exists(exe), "make check builds it"
    port = free_port()
    env = dict(os.environ, LD_LIBRARY_PATH=BUILD)
    log = open(tmp_path / "old.log", "wb")
    p = subprocess.Popen([exe, "-p", str(port), "-h", keys["host_ed25519"],
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
        yield p, port, tmp_path / "old.log"
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(5)
        log.close()


def ssh(port, keys, *args, **kw):
    return subprocess.run(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=no",
                           "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "LogLevel=ERROR", "-p", str(port), *args],
                          capture_output=True, text=True, timeout=60, **kw)


def test_old_header_binary_on_new_library(old_header_tinyshell, keys):
    p, port, log = old_header_tinyshell
    with open(f"/proc/{p.pid}/maps") as f:
        assert os.path.realpath(os.path.join(BUILD, "libwhelk.so.0")) in f.read()
    # exec, exit status and stderr through the old setter set
    r = ssh(port, keys, "-i", keys["ed25519"], "someone@127.0.0.1",
            "exit 5")
    assert r.returncode == 5, r.stderr
    r = ssh(port, keys, "-i", keys["ed25519"], "someone@127.0.0.1",
            "echo abi")
    assert (r.returncode, r.stdout) == (0, "abi\n"), r.stderr
    # a pty session: pty-req's terminal modes, window size, shell
    r = ssh(port, keys, "-tt", "-i", keys["ed25519"], "someone@127.0.0.1",
            input="echo hi\nexit 3\n")
    assert r.returncode == 3
    assert "tinyshell> echo hi\nhi\n" in r.stdout.replace("\r", "")
    # and a refused key is still refused (the decision callback's values)
    r = ssh(port, keys, "-o", "IdentitiesOnly=yes", "-i", keys["stranger"],
            "x@127.0.0.1", "echo no")
    assert r.returncode == 255 and "Permission denied" in r.stderr

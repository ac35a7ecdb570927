"""examples/tinyshell (libwhelk embedded, an in-process session handler,
no child process) serving OpenSSH's ssh."""

import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, free_port


@pytest.fixture
def tinyshell(tmp_path, keys):
    port = free_port()
    log = open(tmp_path / "tinyshell.log", "wb")
    p = subprocess.Popen([os.path.join(BUILD, "examples", "tinyshell"),
                          "-p", str(port), "-h", keys["host_ed25519"],
                          "-k", keys["authorized_keys"]],
                         stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            assert p.poll() is None and time.time() < deadline
            time.sleep(0.02)
    yield port
    p.send_signal(signal.SIGTERM)
    p.wait(5)
    log.close()


def ssh(port, keys, *args, **kw):
    cmd = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", "-i", keys["ed25519"], "-p", str(port),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                          **kw)


def test_exec(tinyshell, keys):
    r = ssh(tinyshell, keys, "someone@127.0.0.1", "echo hello")
    assert (r.returncode, r.stdout) == (0, "hello\n")
    r = ssh(tinyshell, keys, "someone@127.0.0.1", "exit 7")
    assert r.returncode == 7
    r = ssh(tinyshell, keys, "someone@127.0.0.1", "frobnicate")
    assert r.returncode == 127
    assert "frobnicate: command not found" in r.stderr
    assert r.stdout == ""


def test_interactive_pty(tinyshell, keys):
    r = ssh(tinyshell, keys, "-tt", "someone@127.0.0.1",
            input="echo hi\nsize\nexit 3\n")
    assert r.returncode == 3
    out = r.stdout.replace("\r", "")
    assert "tinyshell> echo hi\nhi\n" in out
    assert "tinyshell> size\n0 0\ntinyshell> exit 3\n" in out


def test_refuses_unknown_key(tinyshell, keys):
    r = subprocess.run(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
                        "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "IdentitiesOnly=yes", "-i", keys["stranger"],
                        "-p", str(tinyshell), "x@127.0.0.1", "echo no"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 255 and "Permission denied" in r.stderr

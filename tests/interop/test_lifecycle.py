"""whelkd's lifecycle (issue 17): a worker that dies is replaced and only
its connections are lost; SIGTERM drains (open sessions carry on while a
new whelkd serves the same port); a second SIGTERM or WhelkdDrainTimeout
ends the rest cleanly; SIGHUP reloads for new connections only. Every
process is stopped by PID (orphaned workers by pidfd, conftest.ProcRef)."""

import os
import select
import signal
import subprocess
import time

import pytest

from conftest import USER, ProcRef, children_of, keygen

# A session that answers each line until its input ends, then exits 3;
# on SIGHUP it leaves a mark in the file named by $1 first.
ECHO = ("sh -c 'trap \"echo hup > $0; exit 129\" HUP; echo ready; "
        "while read x; do echo got-$x; done; exit 3' {mark}")


class Session:
    """One ssh session running ECHO, driven line by line."""

    def __init__(self, server, keys, mark="/dev/null"):
        self.p = subprocess.Popen(
            server.ssh_args(keys["ed25519"]) + [ECHO.format(mark=mark)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        assert self.readline(60) == b"ready\n"

    def readline(self, timeout=30):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        return self.p.stdout.readline() if r else b"(timeout)"

    def echo(self, word):
        try:
            self.p.stdin.write(word.encode() + b"\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            return b"(closed)"  # ssh has exited
        return self.readline()

    def end(self):
        """Closes its input; returns the exit status ssh reports."""
        self.p.stdin.close()
        return self.p.wait(60)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def sessions():
    made = []
    yield made
    for s in made:
        s.kill()


def login_ok(server, keys):
    r = server.ssh(keys["ed25519"], command="echo ok", timeout=60)
    return r.returncode == 0 and r.stdout == "ok\n"


def worker_with_session(server, want=1, timeout=10):
    """The worker PIDs that run a session program, polled until |want|."""
    deadline = time.time() + timeout
    while True:
        busy = [w for w in children_of(server.proc.pid) if children_of(w)]
        if len(busy) >= want or time.time() > deadline:
            return busy
        time.sleep(0.05)


def wait_for(pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_killed_worker_is_replaced(whelkd, keys, sessions):
    s = whelkd("-w", "2")
    # Two sessions, one per worker (the parent picks the least loaded).
    sessions += [Session(s, keys), Session(s, keys)]
    busy = worker_with_session(s, want=2)
    assert len(busy) == 2, busy
    victim = busy[0]
    time.sleep(1.2)  # the workers are past their first second
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    assert wait_for(lambda: len(children_of(s.proc.pid)) == 2
                    and victim not in children_of(s.proc.pid), 10)
    replaced_in = time.time() - killed_at
    assert s.wait_log(f"(pid {victim}) killed by signal 9 (SIGKILL)"), s.log()
    assert s.proc.poll() is None  # the parent carries on
    # A new login works at once, on either worker.
    for _ in range(4):
        assert login_ok(s, keys), s.log()
    assert time.time() - killed_at < 30  # generous: a loaded machine
    # Exactly one of the two sessions died with its worker; the other
    # still answers and ends normally.
    answers = [x.echo("after") for x in sessions]
    assert answers.count(b"got-after\n") == 1, answers
    alive = sessions[answers.index(b"got-after\n")]
    assert alive.end() == 3
    print(f"worker replaced in {replaced_in:.2f} s")


def test_quick_crash_respawn_is_held_back(whelkd, keys):
    """A worker that dies within a second of starting is replaced after
    a second, so one that cannot start does not make the parent spin."""
    s = whelkd("-w", "2")
    first = children_of(s.proc.pid)
    os.kill(first[0], signal.SIGKILL)
    assert s.wait_log("restarting it", 10), s.log()
    assert wait_for(lambda: len(children_of(s.proc.pid)) == 2, 10), s.log()
    assert login_ok(s, keys)


def test_sigterm_drains_and_a_new_server_takes_the_port(whelkd, keys,
                                                        sessions):
    old = whelkd("-w", "2")
    workers = old.workers()
    try:
        sess = Session(old, keys)
        sessions.append(sess)
        old.proc.send_signal(signal.SIGTERM)
        old.proc.wait(30)  # the parent exits at once...
        assert "closing the listeners" in old.log()
        # ...and a new whelkd binds the same port while the session runs.
        new = whelkd("-w", "2", port=old.port)
        assert login_ok(new, keys), new.log()
        assert sess.echo("still") == b"got-still\n"
        # The old session's exit status arrives when it ends; then the
        # old worker, drained, exits by itself.
        assert sess.end() == 3
        assert wait_for(lambda: not any(w.alive() for w in workers), 30), \
            old.log()
        assert login_ok(new, keys)
    finally:
        for w in workers:
            w.stop()


def test_second_sigterm_ends_the_drain(whelkd, keys, sessions, tmp_path):
    s = whelkd("-w", "2")
    workers = s.workers()
    mark = tmp_path / "hup"
    try:
        sess = Session(s, keys, mark=str(mark))
        sessions.append(sess)
        busy = worker_with_session(s)
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(30)
        assert sess.echo("draining") == b"got-draining\n"
        # The second SIGTERM goes to the worker (the parent is gone, as
        # sshd's listener is): a disconnect, and the program gets SIGHUP.
        os.kill(busy[0], signal.SIGTERM)
        assert sess.p.wait(30) == 255  # ssh: connection closed by server
        assert wait_for(mark.exists, 10)
        assert mark.read_text() == "hup\n"
        assert wait_for(lambda: not any(w.alive() for w in workers), 30)
    finally:
        for w in workers:
            w.stop()


def test_drain_timeout_ends_the_rest(whelkd, keys, sessions, tmp_path):
    s = whelkd("-w", "2", "-o", "WhelkdDrainTimeout=2")
    workers = s.workers()
    mark = tmp_path / "hup"
    try:
        sess = Session(s, keys, mark=str(mark))
        sessions.append(sess)
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(30)
        assert sess.echo("draining") == b"got-draining\n"
        assert sess.p.wait(60) == 255
        assert wait_for(mark.exists, 10)
        assert wait_for(lambda: not any(w.alive() for w in workers), 30)
        assert "drain timeout: ending 1 remaining connections" in s.log()
    finally:
        for w in workers:
            w.stop()


def test_single_process_drains_too(whelkd, keys, sessions):
    """-w 1 has no parent: SIGTERM closes its listener and it exits when
    the last connection has ended."""
    s = whelkd("-w", "1")
    sess = Session(s, keys)
    sessions.append(sess)
    s.proc.send_signal(signal.SIGTERM)
    assert s.wait_log("draining", 10)
    new = whelkd("-w", "1", port=s.port)
    assert login_ok(new, keys)
    assert sess.echo("x") == b"got-x\n"
    assert s.proc.poll() is None
    assert sess.end() == 3
    s.proc.wait(30)


def test_single_process_second_sigterm_ends_it(whelkd, keys, sessions,
                                               tmp_path):
    s = whelkd("-w", "1")
    mark = tmp_path / "hup"
    sess = Session(s, keys, mark=str(mark))
    sessions.append(sess)
    s.proc.send_signal(signal.SIGTERM)
    assert s.wait_log("draining", 10)
    assert sess.echo("x") == b"got-x\n"
    s.proc.send_signal(signal.SIGTERM)
    assert sess.p.wait(30) == 255
    assert wait_for(mark.exists, 10)
    assert s.proc.wait(30) == 0


def host_key_line(port):
    r = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(port),
                        "127.0.0.1"], capture_output=True, text=True,
                       timeout=60)
    return r.stdout.split()[1:3]


def pub(path):
    with open(path + ".pub") as f:
        return f.read().split()[0:2]


def test_sighup_reloads_host_keys_for_new_connections(whelkd, keys, sessions,
                                                      tmp_path):
    hk = str(tmp_path / "hk")
    keygen(hk, "ed25519")
    first = pub(hk)
    s = whelkd("-w", "2", "-h", hk, host_keys=())
    assert host_key_line(s.port) == first
    sess = Session(s, keys)
    sessions.append(sess)
    pid = s.proc.pid
    # A new key in the same file: after SIGHUP new connections see it.
    os.unlink(hk)
    os.unlink(hk + ".pub")
    keygen(hk, "ed25519")
    second = pub(hk)
    assert second != first
    assert host_key_line(s.port) == first  # not before the reload
    s.proc.send_signal(signal.SIGHUP)
    assert s.wait_log("re-executing", 30), s.log()
    assert wait_for(lambda: host_key_line(s.port) == second, 30), s.log()
    assert s.proc.pid == pid and s.proc.poll() is None
    assert login_ok(s, keys)
    assert sess.echo("kept") == b"got-kept\n"  # the open session continues
    # An invalid file: logged, the running configuration stays.
    with open(hk, "w") as f:
        f.write("not a key\n")
    s.proc.send_signal(signal.SIGHUP)
    assert s.wait_log("not valid; keeping the running one", 30), s.log()
    assert s.proc.poll() is None
    assert host_key_line(s.port) == second
    assert login_ok(s, keys)
    assert sess.echo("again") == b"got-again\n"
    assert sess.end() == 3
    # The workers from before the reload drained and were reaped.
    assert s.wait_log("old worker pid", 30), s.log()


def test_sighup_without_changes_keeps_serving(whelkd, keys):
    s = whelkd("-w", "2")
    s.proc.send_signal(signal.SIGHUP)
    assert s.wait_log("re-executing", 30), s.log()
    assert s.wait_log("(inherited)", 30), s.log()
    assert login_ok(s, keys)


def test_sighup_applies_a_new_allow_users_to_new_logins(whelkd, keys,
                                                        sessions, tmp_path):
    """-f FILE with AllowUsers naming the test user; a session opens.
    The file then allows only someone else and SIGHUP reloads it: the
    open session carries on, the next login is refused with sshd's log
    line. Allowed again and reloaded once more, logins work again."""
    cfg = tmp_path / "lifecycle.conf"
    cfg.write_text(f"AllowUsers nobody-else {USER}\n")
    s = whelkd("-w", "2", "-f", str(cfg))
    sess = Session(s, keys)
    sessions.append(sess)
    assert login_ok(s, keys)
    cfg.write_text("AllowUsers nobody-else\n")
    assert login_ok(s, keys)  # nothing changes before the signal
    s.proc.send_signal(signal.SIGHUP)
    assert s.wait_log("re-executing", 30), s.log()
    refused = f"User {USER} from 127.0.0.1 not allowed because not listed " \
              "in AllowUsers"
    assert wait_for(lambda: not login_ok(s, keys), 30), s.log()
    assert s.wait_log(refused, 10), s.log()
    assert sess.echo("kept") == b"got-kept\n"  # the open session continues
    assert s.proc.poll() is None
    # And back: the rule follows the file at each reload.
    cfg.write_text(f"AllowUsers {USER}\n")
    s.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: login_ok(s, keys), 30), s.log()
    assert sess.echo("still") == b"got-still\n"
    assert sess.end() == 3

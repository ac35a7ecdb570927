"""whelkd -f: sshd_config files (issue 15). -t on broken files, Debian's
stock sshd_config, -T (and -T -C) beside sshd -T on the same file, and
Match and Ciphers seen through real ssh logins."""

import os
import shutil
import subprocess

import pytest

from conftest import WHELKD
from accounts import sshd as sshd_server

SSHD = "/usr/sbin/sshd"


def check(path, *extra):
    return subprocess.run([WHELKD, "-f", str(path), "-t", *extra],
                          capture_output=True, text=True, timeout=30)


BROKEN = [
    ("PermitRootLogin yes\nNoSuchOption 1\n", 2, "NoSuchOption"),
    ("Port 22\nPort 70000\n", 2, "Badly formatted port number"),
    ("PasswordAuthentication perhaps\n", 1, "perhaps"),
    ("Match User alice\n  ListenAddress 1.2.3.4\n", 2,
     "Directive 'ListenAddress' is not allowed within a Match block"),
    ("Match\n", 1, "Match with no criteria"),
    ("Ciphers 'aes128-ctr\n", 1, "invalid quotes"),
    ("Include {dir}/loop.conf\n", None, "nested too deep"),
    ("Compression yes\n", 1, "not supported by whelkd"),
]


@pytest.mark.parametrize("text,line,words", BROKEN)
def test_check_refuses_broken_files(tmp_path, keys, text, line, words):
    cfg = tmp_path / "loop.conf"
    cfg.write_text(f"HostKey {keys['host_ed25519']}\n" +
                   text.format(dir=tmp_path))
    r = check(cfg)
    assert r.returncode != 0, r
    msg = r.stderr
    assert words in msg, msg
    if line is not None:
        # The HostKey line is line 1.
        assert f"{cfg} line {line + 1}:" in msg, msg
    # A refused file never creates a key anywhere.
    assert "host key:" not in r.stdout + r.stderr


def test_check_creates_no_key(tmp_path):
    cfg = tmp_path / "c.conf"
    cfg.write_text("PermitRootLogin no\n")
    state = tmp_path / "state"
    r = subprocess.run([WHELKD, "-f", str(cfg), "-t", "-S", str(state)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    assert not state.exists()


def test_debian_stock_config_passes(tmp_path):
    # The real file from openssh-server, and its Include directory with a
    # drop-in, copied so the test controls what is included.
    stock = "/usr/share/openssh/sshd_config"
    if not os.path.exists(stock):
        stock = "/etc/ssh/sshd_config"
    text = open(stock).read()
    assert "Include /etc/ssh/sshd_config.d/*.conf" in text
    d = tmp_path / "sshd_config.d"
    d.mkdir()
    (d / "50-local.conf").write_text("PasswordAuthentication no\n")
    cfg = tmp_path / "sshd_config"
    cfg.write_text(text.replace("/etc/ssh/sshd_config.d", str(d)))
    r = check(cfg)
    assert r.returncode == 0, r.stderr
    # UsePAM is built now (test_pam.py): no warning for it.
    assert "UsePAM" not in r.stderr, r.stderr
    dump = subprocess.run([WHELKD, "-f", str(cfg), "-T"],
                          capture_output=True, text=True, timeout=30)
    assert "passwordauthentication no\n" in dump.stdout
    assert "usepam yes\n" in dump.stdout
    assert "kbdinteractiveauthentication no\n" in dump.stdout
    assert "acceptenv LANG\nacceptenv LC_*\n" in dump.stdout
    assert "subsystem sftp /usr/lib/openssh/sftp-server\n" in dump.stdout
    # The unmodified file too, as an administrator would check it.
    assert check("/etc/ssh/sshd_config").returncode == 0


SHARED = """Port 2222
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
MaxAuthTries 3
LoginGraceTime 45
StrictModes yes
AddressFamily inet
AcceptEnv LANG LC_* FOO
Subsystem sftp internal-sftp
MaxStartups 10:30:60
PerSourceMaxStartups 5
PerSourceNetBlockSize 24:64
TCPKeepAlive no
ChannelTimeout session:*=5m direct-tcpip=1h30m x11-connection=0
Match User alice Address 10.0.0.0/8
  ChannelTimeout session:shell=10 global=1h
  PermitRootLogin yes
  PasswordAuthentication yes
  MaxAuthTries 5
Match Address 192.168.*
  PubkeyAuthentication no
"""


# Defaults whelkd_config(5) documents as different from sshd's.
DIFFERENT = {
    "pidfile",  # whelkd writes none unless PidFile is given
    "compression",  # whelkd never compresses (accepts only "no")
    # whelk's own algorithm lists (README's table), not OpenSSH's
    "kexalgorithms", "ciphers", "macs", "hostkeyalgorithms",
    "pubkeyacceptedalgorithms", "casignaturealgorithms",
}


def dump_lines(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    lines = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        lines.setdefault(k, []).append(v)
    return lines


@pytest.mark.parametrize("spec", [None, "user=alice,host=h,addr=10.1.1.1",
                                  "user=bob,host=h,addr=10.1.1.1",
                                  "user=bob,host=h,addr=192.168.1.1"])
def test_dump_matches_sshd(tmp_path, keys, spec):
    cfg = tmp_path / "shared.conf"
    cfg.write_text(f"HostKey {keys['host_ed25519']}\n" + SHARED)
    os.makedirs("/run/sshd", exist_ok=True)
    extra = ["-C", spec + ",laddr=127.0.0.1,lport=2222"] if spec else []
    ours = dump_lines([WHELKD, "-f", str(cfg), "-T", *extra])
    theirs = dump_lines([SSHD, "-f", str(cfg), "-T", *extra])
    compared, differ = 0, {}
    for k, v in ours.items():
        if k in theirs and k not in DIFFERENT:
            if v != theirs[k]:
                differ[k] = (v, theirs[k])
            compared += 1
    assert not differ, differ
    assert compared >= 14, ours
    for k in ("maxstartups", "persourcemaxstartups", "persourcenetblocksize",
              "tcpkeepalive", "channeltimeout"):
        assert k in ours and k in theirs, k
    if spec and "alice" in spec:
        assert ours["permitrootlogin"] == ["yes"]
        assert ours["maxauthtries"] == ["5"]


def test_match_address_allows_root_from_one_source(whelkd, keys, tmp_path):
    """PermitRootLogin no, but yes from 127.0.0.2: a key login from each
    source address, with whelkd and sshd on the same file."""
    cfg = tmp_path / "m.conf"
    text = ("PermitRootLogin no\n"
            "Match Address 127.0.0.2\n"
            "  PermitRootLogin yes\n")
    cfg.write_text(text)
    s = whelkd("-f", str(cfg))
    with sshd_server(tmp_path, keys, "StrictModes no\nAuthorizedKeysFile "
                     f"{keys['authorized_keys']}\n" + text) as o:
        for server in (s, o):
            r = server.ssh(keys["ed25519"], "-b", "127.0.0.1",
                           command="echo in")
            assert r.returncode != 0, (server, r.stdout)
            r = server.ssh(keys["ed25519"], "-b", "127.0.0.2",
                           command="echo in")
            assert r.returncode == 0 and r.stdout == "in\n", \
                (server, r.stderr, server.log()[-2000:])
    assert s.wait_log("ROOT LOGIN REFUSED FROM 127.0.0.1"), s.log()


def test_match_user_changes_methods(whelkd, keys, tmp_path):
    """Match User root: PubkeyAuthentication no for that user only."""
    cfg = tmp_path / "m.conf"
    cfg.write_text("PermitRootLogin yes\nMatch User root\n"
                   "  PubkeyAuthentication no\n")
    s = whelkd("-f", str(cfg))
    r = s.ssh(keys["ed25519"], command="echo in")
    assert r.returncode != 0, r.stdout
    cfg.write_text("PermitRootLogin yes\nMatch User nobody\n"
                   "  PubkeyAuthentication no\n")
    s2 = whelkd("-f", str(cfg))
    r = s2.ssh(keys["ed25519"], command="echo in")
    assert r.returncode == 0 and r.stdout == "in\n", (r.stderr, s2.log())


def test_ciphers_restriction_refuses_other_clients(whelkd, keys, tmp_path):
    cfg = tmp_path / "c.conf"
    cfg.write_text("Ciphers aes256-ctr\n")
    s = whelkd("-f", str(cfg))
    r = s.ssh(keys["ed25519"], "-c", "aes128-ctr", command="echo in")
    assert r.returncode != 0
    assert s.wait_log("no matching client to server cipher"), s.log()
    r = s.ssh(keys["ed25519"], "-c", "aes256-ctr", command="echo in")
    assert r.returncode == 0 and r.stdout == "in\n", r.stderr


def test_flags_override_the_file(whelkd, keys, tmp_path):
    """-o and the flags that set keywords win over the file."""
    cfg = tmp_path / "f.conf"
    cfg.write_text("PermitRootLogin no\nAcceptEnv NOTHING\n")
    s = whelkd("-f", str(cfg), "-o", "PermitRootLogin=yes", "-E", "WHELK_T")
    r = s.ssh(keys["ed25519"], "-o", "SetEnv=WHELK_T=seen",
              command="echo $WHELK_T")
    assert r.returncode == 0 and r.stdout == "seen\n", (r.stderr, s.log())


def test_listen_from_file(tmp_path, keys):
    """Port and ListenAddress from the file when no -p is given."""
    from conftest import free_port, Server
    port = free_port()
    cfg = tmp_path / "l.conf"
    cfg.write_text(f"ListenAddress 127.0.0.1:{port}\n"
                   f"HostKey {keys['host_ed25519']}\n"
                   f"PidFile {tmp_path}/whelkd.pid\n")
    r = dump_lines([WHELKD, "-f", str(cfg), "-T"])
    assert r["listenaddress"] == [f"127.0.0.1:{port}"]
    p = subprocess.Popen([WHELKD, "-f", str(cfg), "-w", "1", "-a",
                          keys["authorized_keys"], "-S", str(tmp_path / "s")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import socket
        import time
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.time() < deadline and p.poll() is None
                time.sleep(0.05)
        assert (tmp_path / "whelkd.pid").read_text() == f"{p.pid}\n"
        r = subprocess.run(["ssh", "-F", "/dev/null", "-i", keys["ed25519"],
                            "-o", "BatchMode=yes", "-o",
                            "StrictHostKeyChecking=no", "-o",
                            "UserKnownHostsFile=/dev/null", "-p", str(port),
                            "root@127.0.0.1", "echo in"],
                           capture_output=True, text=True, timeout=60)
        assert r.stdout == "in\n", r.stderr
    finally:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_cipher_modifiers_through_ssh(whelkd, keys, tmp_path):
    """Ciphers -chacha20*: a client that offers only chacha20 is refused,
    one offering aes256-gcm gets in; MACs -*-etm@openssh.com likewise."""
    cfg = tmp_path / "c.conf"
    cfg.write_text("Ciphers -chacha20*\n")
    s = whelkd("-f", str(cfg))
    r = s.ssh(keys["ed25519"], "-c", "chacha20-poly1305@openssh.com",
              command="echo in")
    assert r.returncode != 0
    r = s.ssh(keys["ed25519"], "-c", "aes256-gcm@openssh.com",
              command="echo in")
    assert r.returncode == 0 and r.stdout == "in\n", r.stderr
    cfg.write_text("Ciphers aes256-ctr\nMACs -*-etm@openssh.com\n")
    s2 = whelkd("-f", str(cfg))
    r = s2.ssh(keys["ed25519"], "-c", "aes256-ctr", "-m",
               "hmac-sha2-256-etm@openssh.com", command="echo in")
    assert r.returncode != 0
    r = s2.ssh(keys["ed25519"], "-c", "aes256-ctr", "-m", "hmac-sha2-256",
               command="echo in")
    assert r.returncode == 0 and r.stdout == "in\n", r.stderr


def test_max_sessions_over_a_control_master(whelkd, keys, tmp_path):
    """MaxSessions 2: a ControlMaster's third session is refused, as
    sshd's "open failed: administratively prohibited" says."""
    cfg = tmp_path / "m.conf"
    cfg.write_text("MaxSessions 2\n")
    s = whelkd("-f", str(cfg))
    sock = str(tmp_path / "cm")
    base = s.ssh_args(keys["ed25519"], "-S", sock)
    master = subprocess.Popen(base[:-1] + ["-M", "-N", base[-1]],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    held = []
    try:
        import time
        deadline = time.time() + 20
        while not os.path.exists(sock):
            assert time.time() < deadline and master.poll() is None
            time.sleep(0.05)
        for _ in range(2):
            held.append(subprocess.Popen(base + ["sleep 30"],
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL))
        deadline = time.time() + 20
        while s.log().count("session opened") < 2 and \
                s.log().count("Starting session") < 2:
            if time.time() > deadline:
                break
            time.sleep(0.1)
        time.sleep(1)
        r = subprocess.run(base + ["echo third"], capture_output=True,
                           text=True, timeout=30)
        # The master's third session is refused; ssh then falls back to
        # a connection of its own, where it is the only session.
        assert "Session open refused by peer" in r.stderr, r
    finally:
        for p in held + [master]:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_client_alive_drops_a_stopped_client(whelkd, keys, tmp_path):
    """ClientAliveInterval 1, ClientAliveCountMax 2: a SIGSTOPped ssh
    stops answering the probes; whelkd ends the connection and the
    session's program."""
    import signal
    import time
    cfg = tmp_path / "a.conf"
    cfg.write_text("ClientAliveInterval 1\nClientAliveCountMax 2\n")
    s = whelkd("-f", str(cfg))
    marker = tmp_path / "alive"
    p = subprocess.Popen(s.ssh_args(keys["ed25519"]) +
                         [f"touch {marker}; exec sleep 300"],
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not marker.exists():
            assert time.time() < deadline and p.poll() is None
            time.sleep(0.05)
        p.send_signal(signal.SIGSTOP)
        assert s.wait_log("Timeout, client not responding", timeout=30), \
            s.log()
    finally:
        p.send_signal(signal.SIGCONT)
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

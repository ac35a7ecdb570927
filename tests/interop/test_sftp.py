"""whelk's own SFTP server (`-s sftp=internal-sftp`) against OpenSSH's
sftp and scp (SFTP mode, their default) and paramiko, each scenario run
side by side against OpenSSH's sftp-server behind the same whelkd
(`-s sftp=/usr/lib/openssh/sftp-server`): the same files, the same
listings, the same error messages. Also: a forced command="internal-sftp"
compared with sshd's, a session as a non-root user, read-only mode, the
server's log lines, and hostile packets over a real channel."""

import os
import re
import stat
import struct
import subprocess

import paramiko
import pytest

from conftest import USER, Sshd
from accounts import user_name_lock

SFTP_SERVER = "/usr/lib/openssh/sftp-server"
BACKENDS = {"internal": "internal-sftp", "openssh": SFTP_SERVER}


@pytest.fixture(scope="module")
def data():
    return os.urandom(20 << 20)


def client_opts(port, key):
    return ["-F", "/dev/null", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-i", key, "-P", str(port)]


def sftp_batch(port, key, batch, user=USER, cwd=None):
    return subprocess.run(["sftp", *client_opts(port, key), "-b", "-",
                           f"{user}@127.0.0.1"], input=batch,
                          capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def scp(port, key, *args, user=USER):
    return subprocess.run(["scp", *client_opts(port, key), *args],
                          capture_output=True, text=True, timeout=120)


def pair(whelkd, extra=""):
    """One whelkd per back end, the same options after the command."""
    return {name: whelkd("-s", f"sftp={cmd}{extra}")
            for name, cmd in BACKENDS.items()}


DATE = re.compile(r"[A-Z][a-z]{2} [ \d]\d (?:\d\d:\d\d| \d{4})")


def normalize(text, root):
    """Paths, dates and disk figures differ between two runs."""
    text = text.replace(str(root), "ROOT")
    text = DATE.sub("DATE", text)
    return re.sub(r"^( +[\d.]+[KMGTP]?B?){4} +\d+%$", "DF", text, flags=re.M)


def paramiko_sftp(server, key, user=USER):
    t = paramiko.Transport(("127.0.0.1", server.port))
    t.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(
        key))
    return t, paramiko.SFTPClient.from_transport(t)


# ------------------------------------------------------------------------
# OpenSSH's sftp


BATCH = """\
cd {remote}
pwd
put {src} up.bin
get up.bin {root}/down.bin
put -f {src} synced.bin
rename up.bin moved.bin
mkdir sub
cd sub/..
pwd
cd sub
pwd
cd ..
ln -s moved.bin link.bin
ln moved.bin hard.bin
cp moved.bin copy.bin
chmod 640 moved.bin
ls -l
ls -la sub
ls -ln keep.txt
df -h
-rm nonexist.txt
-mkdir sub
-rmdir nonexist
-get nonexist.txt {root}/x
-rename nonexist a
-rename keep.txt sub
-ln -s moved.bin link.bin
-cd nonexistdir
-cd keep.txt
-chmod 600 nonexist
-chmod -h 600 link.bin
-put {src} /proc/no/such/dir/x
rmdir sub
rm link.bin
rm hard.bin
rm copy.bin
rm synced.bin
rm moved.bin
ls
"""


@pytest.mark.parametrize("extra", ["", " -P users-groups-by-id"],
                         ids=["client-listing", "server-long-names"])
def test_sftp_batch_same_as_sftp_server(whelkd, keys, tmp_path, data, extra):
    # Without users-groups-by-id, sftp's `ls -l` prints the server's long
    # names as they come; with it, it formats them itself.
    results = {}
    for name, server in pair(whelkd, extra).items():
        root = tmp_path / name
        remote = root / "remote"
        remote.mkdir(parents=True)
        src = root / "src.bin"
        src.write_bytes(data)
        keep = remote / "keep.txt"
        keep.write_text("keep\n")
        os.utime(keep, (994000000, 994000000))  # 2001: the year is shown
        r = sftp_batch(server.port, keys["ed25519"],
                       BATCH.format(remote=remote, src=src, root=root))
        assert r.returncode == 0, r.stdout + r.stderr
        assert (root / "down.bin").read_bytes() == data
        assert sorted(os.listdir(remote)) == ["keep.txt"]
        results[name] = (normalize(r.stdout, root), normalize(r.stderr, root),
                         r.stdout)
    internal, openssh = results["internal"], results["openssh"]
    assert internal[0] == openssh[0]
    assert internal[1] == openssh[1]
    # The listing is really there: modes, sizes, an old file's year.
    assert re.search(r"^-rw-r----- +\S+ +\S+ +\S+ +20971520 DATE moved\.bin$",
                     internal[0], re.M), internal[0]
    assert re.search(r"^lrwxrwxrwx .* link\.bin$", internal[0], re.M)
    assert re.search(r" 2001 keep\.txt$", internal[2], re.M), internal[2]
    assert "Remote working directory: ROOT/remote/sub\n" in internal[0]
    assert "No such file" in internal[1]


def test_sftp_long_names_exact(whelkd, keys, tmp_path):
    """The long names themselves (dates included) for a fixed tree."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for n, mode in (("a", 0o644), ("b", 0o4755), ("c", 0o600)):
        p = tree / n
        p.write_bytes(b"x" * (ord(n) * 10))
        os.chmod(p, mode)
        os.utime(p, (978404400, 978404400))
    (tree / "d").mkdir()
    os.symlink("a", tree / "l")
    os.utime(tree / "d", (978404400, 978404400))
    os.utime(tree / "l", (978404400, 978404400), follow_symlinks=False)
    outs = {}
    for name, server in pair(whelkd, " -P users-groups-by-id").items():
        r = sftp_batch(server.port, keys["ed25519"], f"ls -l {tree}\n")
        assert r.returncode == 0, r.stderr
        outs[name] = r.stdout
    assert outs["internal"] == outs["openssh"]
    assert "Jan  2  2001" in outs["internal"]
    assert re.search(r"^-rwsr-xr-x +1 ", outs["internal"], re.M)


# ------------------------------------------------------------------------
# scp (SFTP mode)


def test_scp_same_as_sftp_server(whelkd, keys, tmp_path, data):
    results = {}
    for name, server in pair(whelkd).items():
        root = tmp_path / name
        root.mkdir()
        src = root / "src.bin"
        src.write_bytes(data)
        os.chmod(src, 0o640)
        os.utime(src, (1000000000, 1000000000))
        host = f"{USER}@127.0.0.1"
        key, port = keys["ed25519"], server.port
        out = []
        r = scp(port, key, "-p", str(src), f"{host}:{root}/up.bin")
        assert r.returncode == 0, r.stderr
        st = os.stat(root / "up.bin")
        assert (root / "up.bin").read_bytes() == data
        assert (st.st_mtime, stat.S_IMODE(st.st_mode)) == (1000000000, 0o640)
        r = scp(port, key, f"{host}:{root}/up.bin", str(root / "down.bin"))
        assert r.returncode == 0, r.stderr
        assert (root / "down.bin").read_bytes() == data
        # A tree, recursively, each way.
        tree = root / "tree"
        (tree / "sub" / "deeper").mkdir(parents=True)
        (tree / "one").write_text("1\n")
        (tree / "sub" / "two").write_text("2\n")
        (tree / "sub" / "deeper" / "three").write_bytes(data[:100000])
        r = scp(port, key, "-r", str(tree), f"{host}:{root}/tree-up")
        assert r.returncode == 0, r.stderr
        r = scp(port, key, "-r", f"{host}:{root}/tree-up", str(root / "back"))
        assert r.returncode == 0, r.stderr
        assert (root / "back" / "sub" / "deeper" / "three").read_bytes() == \
            data[:100000]
        # Remote to remote goes through the client in SFTP mode.
        r = scp(port, key, f"{host}:{root}/up.bin", f"{host}:{root}/r2r.bin")
        assert r.returncode == 0, r.stderr
        assert (root / "r2r.bin").read_bytes() == data
        # Errors, as the user sees them.
        for args in ([f"{host}:{root}/missing", str(root / "x")],
                     [str(src), f"{host}:{root}/no/such/dir/x"],
                     [f"{host}:~wks_no_such_user/x", str(root / "x")],
                     ["-r", f"{host}:{root}/up.bin/x", str(root / "y")]):
            r = scp(port, key, *args)
            assert r.returncode != 0
            out.append(normalize(r.stderr, root))
        results[name] = out
    assert results["internal"] == results["openssh"]
    assert any("No such file" in e for e in results["internal"])


# ------------------------------------------------------------------------
# paramiko


def paramiko_scenario(server, keys, root):
    t, sftp = paramiko_sftp(server, keys["ed25519"])
    seen = []
    try:
        sftp.chdir(str(root))
        seen.append(sftp.normalize("."))
        with sftp.open("f", "w") as f:
            f.write(b"0123456789" * 100)
        st = sftp.stat("f")
        seen.append((st.st_size, stat.S_IMODE(st.st_mode), st.st_uid))
        sftp.truncate("f", 25)
        sftp.utime("f", (1100000000, 1200000000))
        sftp.chmod("f", 0o600)
        st = sftp.stat("f")
        seen.append((st.st_size, st.st_atime, st.st_mtime,
                     stat.S_IMODE(st.st_mode)))
        with sftp.open("f", "r+") as f:
            f.seek(20)
            seen.append(f.read(100))
            f.seek(2)
            f.write(b"XY")
            seen.append(f.stat().st_size)
        with sftp.open("f", "a") as f:
            f.write(b"tail")
        with sftp.open("f") as f:
            seen.append(f.read())
        sftp.mkdir("dir", 0o750)
        sftp.symlink("f", "ln")
        seen.append(sftp.readlink("ln"))
        seen.append(stat.S_ISLNK(sftp.lstat("ln").st_mode))
        seen.append(sorted((a.filename, a.st_size if not stat.S_ISDIR(
            a.st_mode) else "dir", stat.S_IMODE(a.st_mode),
            DATE.sub("DATE", a.longname)) for a in sftp.listdir_attr(".")))
        for call in (lambda: sftp.stat("missing"),
                     lambda: sftp.rename("f", "ln"),
                     lambda: sftp.rmdir("f"),
                     lambda: sftp.remove("dir"),
                     lambda: sftp.mkdir("dir"),
                     lambda: sftp.open("dir/missing/x", "w"),
                     lambda: sftp.listdir("f"),
                     lambda: sftp.readlink("f")):
            try:
                call()
                seen.append("no error")
            except IOError as e:
                seen.append((type(e).__name__, e.errno, str(e)))
        sftp.posix_rename("f", "g")
        sftp.rename("g", "h")
        seen.append(sorted(sftp.listdir(".")))
        sftp.remove("ln")
        sftp.remove("h")
        sftp.rmdir("dir")
        seen.append(sftp.listdir("."))
    finally:
        sftp.close()
        t.close()
    return seen


def test_paramiko_same_as_sftp_server(whelkd, keys, tmp_path):
    results = {}
    for name, server in pair(whelkd).items():
        root = tmp_path / name
        root.mkdir()
        results[name] = [normalize(x, root) if isinstance(x, str) else x
                         for x in paramiko_scenario(server, keys, root)]
    assert results["internal"] == results["openssh"]
    assert results["internal"][-1] == []


# ------------------------------------------------------------------------
# Forced command, compared with sshd


@pytest.fixture
def sshd_forced(tmp_path, keys):
    ak = tmp_path / "ak_forced_sshd"
    ak.write_text('command="internal-sftp" ' +
                  open(keys["ed25519"] + ".pub").read())
    d = Sshd(str(tmp_path), keys, f"""PermitRootLogin yes
AuthorizedKeysFile {ak}
Subsystem sftp {SFTP_SERVER}
""")
    yield d.port
    d.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="sshd needs root")
def test_forced_internal_sftp_same_as_sshd(whelkd, keys, tmp_path,
                                          sshd_forced):
    ak = tmp_path / "ak_forced"
    ak.write_text('command="internal-sftp" ' +
                  open(keys["ed25519"] + ".pub").read())
    # The configured subsystem is an external program: the forced command
    # overrides it, as in sshd.
    w = whelkd("-s", f"sftp={SFTP_SERVER}", authorized_keys=str(ak))
    (tmp_path / "seen.txt").write_text("seen\n")
    got = {}
    for name, port in (("whelkd", w.port), ("sshd", sshd_forced)):
        r = sftp_batch(port, keys["ed25519"], f"ls {tmp_path}/seen.txt\n")
        assert r.returncode == 0, r.stderr
        ssh = subprocess.run(
            ["ssh", *client_opts(port, keys["ed25519"])[:-2], "-p", str(port),
             f"{USER}@127.0.0.1", "echo", "not-run"],
            capture_output=True, text=True, timeout=30)
        got[name] = (r.stdout, ssh.returncode, ssh.stdout)
    assert got["whelkd"] == got["sshd"]
    assert got["whelkd"][1:] == (1, "This service allows sftp connections "
                                    "only.\n")
    assert w.wait_log("refusing non-sftp session")


# ------------------------------------------------------------------------
# As another user; read-only; logs; hostile packets


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to add a user")
def test_runs_as_the_user(whelkd, keys, tmp_path, data):
    name = "wks_sftp"
    with user_name_lock(name):
        subprocess.run(["userdel", "-r", name], capture_output=True)
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-p", "*", name],
                       check=True)
        try:
            home = f"/home/{name}"
            s = whelkd("-s", "sftp=internal-sftp")
            src = tmp_path / "src.bin"
            src.write_bytes(data[:1 << 20])
            os.chmod(tmp_path, 0o755)
            os.chmod(src, 0o644)
            r = sftp_batch(s.port, keys["ed25519"],
                           f"pwd\nput {src} mine.bin\n-put {src} /root/theirs\n"
                           f"-ls /root/.ssh\n", user=name)
            assert r.returncode == 0, r.stderr
            assert f"Remote working directory: {home}" in r.stdout
            st = os.stat(f"{home}/mine.bin")
            assert st.st_uid == int(subprocess.run(
                ["id", "-u", name], capture_output=True, text=True).stdout)
            assert not os.path.exists("/root/theirs")
            assert "Permission denied" in r.stderr
            # scp's "~/" is the home; expand-path resolves "~user/".
            r = scp(s.port, keys["ed25519"], str(src), f"{name}@127.0.0.1:~/t1")
            assert r.returncode == 0, r.stderr
            r = scp(s.port, keys["ed25519"], str(src),
                    f"{name}@127.0.0.1:~{name}/t2")
            assert r.returncode == 0, r.stderr
            assert os.path.exists(f"{home}/t1") and os.path.exists(f"{home}/t2")
        finally:
            subprocess.run(["userdel", "-r", name], capture_output=True)


def test_read_only_same_as_sftp_server(whelkd, keys, tmp_path):
    outs = {}
    for name, server in pair(whelkd, " -R").items():
        root = tmp_path / name
        root.mkdir()
        (root / "f").write_text("ro\n")
        r = sftp_batch(server.port, keys["ed25519"],
                       f"cd {root}\nget f {root}/g\n-put {root}/f h\n"
                       f"-rm f\n-mkdir d\n-rename f x\n-chmod 600 f\n"
                       f"-ln -s f l\nls\n")
        assert r.returncode == 0, r.stderr
        assert sorted(os.listdir(root)) == ["f", "g"]
        outs[name] = (normalize(r.stdout, root), normalize(r.stderr, root))
    assert outs["internal"] == outs["openssh"]
    assert "Permission denied" in outs["internal"][1]


def test_log_lines_escaped(whelkd, keys, tmp_path):
    s = whelkd("-s", "sftp=internal-sftp -l VERBOSE")
    t, sftp = paramiko_sftp(s, keys["ed25519"])
    try:
        with pytest.raises(IOError):
            sftp.stat("x\nInvalid user evil from 198.51.100.7 port 22")
        sftp.listdir(str(tmp_path))
    finally:
        sftp.close()
        t.close()
    assert s.wait_log("session closed for local user")
    log = s.log()
    assert re.search(r"^internal-sftp\[\d+\]: session opened for local user "
                     rf"{USER} from \[127\.0\.0\.1\]$", log, re.M), log
    assert re.search(rf'^internal-sftp\[\d+\]: opendir "{re.escape(str(tmp_path))}"$',
                     log, re.M), log
    assert 'stat name "x\\x0aInvalid user evil' in log
    assert not re.search(r"^Invalid user evil", log, re.M)


def raw_subsystem(server, keys):
    t = paramiko.Transport(("127.0.0.1", server.port))
    t.connect(username=USER, pkey=paramiko.Ed25519Key.from_private_key_file(
        keys["ed25519"]))
    ch = t.open_session()
    ch.settimeout(30)
    ch.invoke_subsystem("sftp")
    ch.sendall(struct.pack(">IBI", 5, 1, 3))  # INIT, version 3
    head = ch.recv(4)
    (n,) = struct.unpack(">I", head)
    body = b""
    while len(body) < n:
        body += ch.recv(n - len(body))
    assert body[0] == 2  # VERSION
    return t, ch


def test_hostile_packets_same_as_sftp_server(whelkd, keys):
    cases = {
        "too long": struct.pack(">IB", 256 * 1024 + 1, 17),
        "no id": struct.pack(">IB", 1, 17),
        "string past the end": struct.pack(">IBII", 9, 17, 1, 1000),
        "NUL in a name": struct.pack(">IBII", 13, 17, 2, 4) + b"a\0bc",
    }
    got = {}
    for name, server in pair(whelkd).items():
        got[name] = {}
        for what, packet in cases.items():
            t, ch = raw_subsystem(server, keys)
            ch.sendall(packet)
            ch.settimeout(30)  # a bound for a hung server, not a timing
            assert ch.status_event.wait(30), what
            status = ch.recv_exit_status()
            rest = b""
            while True:
                chunk = ch.recv(4096)
                if not chunk:
                    break
                rest += chunk
            got[name][what] = (status, rest)
            t.close()
        # Unknown handles and a huge READ are answered, the server stays.
        t, ch = raw_subsystem(server, keys)
        ch.sendall(struct.pack(">IBII", 25, 5, 7, 4) + b"\xff" * 4 +
                   struct.pack(">QI", 0, 0xffffffff))
        head = ch.recv(4)
        (n,) = struct.unpack(">I", head)
        body = b""
        while len(body) < n:
            body += ch.recv(n - len(body))
        got[name]["unknown handle"] = body
        t.close()
    assert got["internal"] == got["openssh"]
    assert got["internal"]["too long"][0] == 11
    assert got["internal"]["no id"][0] == 255
    assert got["internal"]["unknown handle"][:9] == \
        struct.pack(">BII", 101, 7, 4)  # STATUS, id 7, FAILURE

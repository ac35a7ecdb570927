#!/usr/bin/python3
"""Side-by-side benchmark: whelkd against OpenSSH's sshd and Dropbear.

`make bench` runs this. Each server gets its own temporary host key, config
and port on 127.0.0.1, runs in the foreground and is stopped by PID at the
end. All serve the same user with the same ed25519 user key; the client is
OpenSSH's ssh with the same options for every server, and key exchange is
forced to curve25519-sha256 everywhere (sshd's default would be sntrup761).
Every figure is measured in interleaved rounds (whelkd, sshd, dropbear,
whelkd, ...) in one run, and each whelkd figure is reported as a ratio to
the others measured in that same run: the machines are shared and noisy,
so only same-run ratios mean anything.

Server CPU is read from /proc as the whole process tree: the listener's
own time plus the time of every child it has reaped (cutime/cstime), which
includes the programs the sessions ran (cat, head). Memory is PSS from
/proc/PID/smaps_rollup summed over the tree.

Environment knobs (for quick runs): BENCH_MB (bulk size, default 512),
BENCH_ROUNDS (default 3), BENCH_ONLY (comma list of figures: bulk,latency,
rate,memory,scale,multicore,tunnel; tunnel-bulk and tunnel-rate are the
two halves of tunnel), BENCH_SERVERS (default whelkd,sshd,dropbear),
BENCH_BASELINE (an older build directory, run beside the others as
"baseline": `make bench BENCH_BASELINE=/path/to/old/build`).

The tunnel figures go through one `ssh -N -L` per server and round to
local ends that cost little CPU, so that the servers are what they measure.
Bulk: BENCH_MB up and down with each of TUNNEL_CIPHERS, to the sink and
from the source of bench/tunnelpeer.py (one asyncio process, sendfile and
large reads). Rate: TUNNEL_CONNS connections, TUNNEL_PARALLEL at a time,
each sending 16 bytes and reading them back, both ends in C (the echo
server and the client of bench/tunnelrate.c, built as
$WHELK_BUILD/bench/tunnelrate): per connection, an asyncio client and echo
server cost more CPU than the servers under test. The peers and the ssh
client run outside the servers' cgroups, so server CPU is the server's
alone. Each round also passes the bulk transfers through bench/relay.c, a
plain TCP relay: its CPU per GiB plus libcrypto's for aes128-gcm
(`openssl speed`) estimates the least an SSH server can spend (the
kernel's share of moving the bytes and the cipher's), reported as its
ratio to sshd's server CPU: about the lowest whelkd/sshd any server
could show in that run. An estimate, not a bound: a server that reads
in larger batches than the relay can come out a little below it.
BENCH_PAM=1 runs whelkd with UsePAM yes and the shipped /etc/pam.d/whelkd
(installed for the run when there is none), sshd with UsePAM yes and its
own /etc/pam.d/sshd.
"""

import asyncio
import datetime
import os
import platform
import pwd
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("WHELK_BUILD", os.path.join(ROOT, "build"))
MB = int(os.environ.get("BENCH_MB", "512"))
ROUNDS = max(3, int(os.environ.get("BENCH_ROUNDS", "3")))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
BENCH_USER = "whelkbench"
CLK = os.sysconf("SC_CLK_TCK")
PAM = os.environ.get("BENCH_PAM", "") == "1"
SERVERS = [x for x in os.environ.get("BENCH_SERVERS", "whelkd,sshd,dropbear").split(",") if x]
# BENCH_BASELINE=DIR: an older build's directory (its whelkd is DIR/whelkd),
# run as one more server, "baseline", in the same interleaved rounds; the
# report adds whelkd/baseline. The way to tell whether a change made a
# figure worse on a machine unlike the one of the last recorded run.
BASELINE = os.environ.get("BENCH_BASELINE", "")
if BASELINE and "baseline" not in SERVERS:
    SERVERS.insert(1, "baseline")
RATIO_TO = [o for o in ("sshd", "dropbear", "baseline") if o in SERVERS]
CIPHERS = [
    ("aes128-gcm@openssh.com", None),
    ("chacha20-poly1305@openssh.com", None),
    ("aes128-ctr", "hmac-sha2-256"),
]
TUNNEL_CIPHERS = ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"]
TUNNEL_RATE_CIPHER = "chacha20-poly1305@openssh.com"
TUNNEL_CONNS = 1000
TUNNEL_PARALLEL = 8
PEER = os.path.join(HERE, "tunnelpeer.py")
RATEGEN = os.path.join(BUILD, "bench", "tunnelrate")
RELAY = os.path.join(BUILD, "bench", "relay")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---------------------------------------------------------------------------
# /proc readings


def children_of(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children_of(p)
    return out


def proc_cpu(pid, with_children=True):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is state (field 3): utime is field 14 -> index 11.
    t = int(fields[11]) + int(fields[12])
    if with_children:
        t += int(fields[13]) + int(fields[14])
    return t / CLK


CGROOT = "/sys/fs/cgroup/cpuacct"
CGROUPS = {}  # server pid -> its cpuacct cgroup directory


def tree_cpu(pid):
    """CPU seconds of a server's whole process tree. With a cpuacct cgroup
    per server (cgroup v1, as on these machines) every process it ever
    started counts, exited ones included; without, the listener's own time
    plus its reaped children (cutime) plus live descendants. The fallback
    misses processes whose parent never reaps them into the listener (sshd's
    privilege-separated children), so the cgroup is preferred."""
    cg = CGROUPS.get(pid)
    if cg:
        with open(os.path.join(cg, "cpuacct.usage")) as f:
            return int(f.read()) / 1e9
    return sum(proc_cpu(p) for p in tree(pid))


def make_cgroup(name):
    path = os.path.join(CGROOT, f"whelkbench-{name}-{os.getpid()}")
    try:
        # exist_ok: a restarted server reuses a cgroup whose last
        # process had not gone yet when it was to be removed.
        os.makedirs(path, exist_ok=True)
        return path
    except OSError:
        return None


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pss(pid, skip_comm=None):
    return sum(pss_kib(p) for p in tree(pid)
               if not (skip_comm and comm(p) == skip_comm))


def tree_rss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---------------------------------------------------------------------------
# The user and the servers


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.user, self.home = self._user()
        self.key = os.path.join(tmp, "user_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                        "-f", self.key], check=True)
        ssh_dir = os.path.join(self.home, ".ssh")
        os.makedirs(ssh_dir, exist_ok=True)
        self.authorized_keys = os.path.join(ssh_dir, "authorized_keys")
        shutil.copy(self.key + ".pub", self.authorized_keys)
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            for p in (self.home, ssh_dir, self.authorized_keys):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(ssh_dir, 0o700)
        os.chmod(self.authorized_keys, 0o600)
        self.zero_file = os.path.join(tmp, "zeros")
        with open(self.zero_file, "wb") as f:
            f.truncate(MB << 20)

    def _user(self):
        """A user whose shell start-up costs nothing (/bin/sh, empty home),
        the same for every server; the current user when not root."""
        if os.geteuid() != 0:
            pw = pwd.getpwuid(os.getuid())
            return pw.pw_name, pw.pw_dir
        home = os.path.join(self.tmp, "home")
        subprocess.run(["pkill", "-KILL", "-u", BENCH_USER],
                       stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        try:
            pwd.getpwnam(BENCH_USER)
            subprocess.run(["usermod", "-d", home, "-s", "/bin/sh",
                            BENCH_USER], check=True)
        except KeyError:
            subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh",
                            BENCH_USER], check=True)
        # "*" rather than useradd's "!": sshd without PAM refuses locked
        # accounts even for key logins.
        subprocess.run(["usermod", "-p", "*", BENCH_USER], check=True)
        os.makedirs(home, exist_ok=True)
        os.chmod(self.tmp, 0o755)
        return BENCH_USER, home


class Server:
    def __init__(self, name, env, extra=()):
        self.name, self.env, self.extra = name, env, list(extra)
        self.port = free_port()
        self.dir = os.path.join(env.tmp, name + "".join(self.extra))
        os.makedirs(self.dir)
        self.proc = None
        self.log = open(os.path.join(self.dir, "log"), "wb")

    def cmd(self):
        d, port = self.dir, self.port
        if self.name in ("whelkd", "baseline"):
            key = os.path.join(d, "host_key")
            if not os.path.exists(key):  # a restart keeps its key
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N",
                                "", "-f", key], check=True)
            build = BASELINE if self.name == "baseline" else BUILD
            # -e (stderr, not syslog) came with issue 17; older builds
            # log to stderr without it.
            usage = subprocess.run([os.path.join(build, "whelkd"), "-?"],
                                   capture_output=True, text=True).stderr
            log_flag = ["-e"] if re.search(r"\s-e\s", usage) else []
            return [os.path.join(build, "whelkd"), *log_flag,
                    "-p", f"127.0.0.1:{port}",
                    "-h", key, "-a", self.env.authorized_keys, "-S", d,
                    "-m", "1000"] + (["-o", "UsePAM=yes"] if PAM else []) \
                + self.extra
        if self.name == "sshd":
            key = os.path.join(d, "host_key")
            if not os.path.exists(key):  # a restart keeps its key
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N",
                                "", "-f", key], check=True)
            os.makedirs("/run/sshd", exist_ok=True)
            cfg = os.path.join(d, "sshd_config")
            with open(cfg, "w") as f:
                f.write(f"""ListenAddress 127.0.0.1
Port {port}
HostKey {key}
PidFile none
UsePAM {"yes" if PAM else "no"}
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile {self.env.authorized_keys}
MaxStartups 1000:30:2000
MaxSessions 1000
PrintMotd no
PrintLastLog no
Subsystem sftp /usr/lib/openssh/sftp-server
""")
            return ["/usr/sbin/sshd", "-D", "-e", "-f", cfg]
        key = os.path.join(d, "host_key")
        if not os.path.exists(key):
            subprocess.run(["dropbearkey", "-t", "ed25519", "-f", key],
                           check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return ["/usr/sbin/dropbear", "-F", "-E", "-s", "-r", key,
                "-p", f"127.0.0.1:{port}"]

    def start(self):
        cg = make_cgroup(self.name)

        def setup_child():
            raise_nofile()
            if cg:
                with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))

        self.cgroup = cg
        self.proc = subprocess.Popen(self.cmd(), stdout=self.log,
                                     stderr=self.log, preexec_fn=setup_child)
        if cg:
            CGROUPS[self.proc.pid] = cg
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.dir}/log")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # sshd and dropbear leave per-connection children behind.
        cg = getattr(self, "cgroup", None)
        if not cg:
            # Without a cgroup to empty, sshd's and Dropbear's
            # per-connection children are found by their config path.
            subprocess.run(["pkill", "-KILL", "-f", self.dir],
                           stderr=subprocess.DEVNULL)
        if cg:
            try:
                with open(os.path.join(cg, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        os.kill(int(pid), signal.SIGKILL)
                time.sleep(0.2)
                os.rmdir(cg)
            except OSError:
                pass

    @property
    def pid(self):
        return self.proc.pid

    def ssh(self, extra=(), kex=True):
        args = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "IdentitiesOnly=yes", "-i", self.env.key,
                "-p", str(self.port)]
        if kex:
            args += ["-o", "KexAlgorithms=curve25519-sha256"]
        return args + list(extra) + [f"{self.env.user}@127.0.0.1"]


def run_timed(args, stdin=None, stdout=subprocess.DEVNULL, timeout=600):
    """Wall time, client CPU seconds and exit status of one command."""
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdin=stdin or subprocess.DEVNULL,
                         stdout=stdout, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.time() > deadline:
            p.kill()
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    return wall, ru.ru_utime + ru.ru_stime, p.returncode, err


# ---------------------------------------------------------------------------
# Figures


def fig_bulk(servers, results):
    n = MB << 20
    for cipher, mac in CIPHERS:
        for direction in ("upload", "download"):
            key = f"bulk {direction} {cipher.split('@')[0]}"
            for rnd in range(ROUNDS):
                for s in servers:
                    opts = ["-c", cipher] + (["-m", mac] if mac else [])
                    setup, _, rc, err = run_timed(s.ssh(opts) + ["true"])
                    if rc != 0:
                        # A cipher the server lacks, or a login that failed
                        # on a busy machine: logged, and measured rounds
                        # are kept.
                        log(f"{key} {s.name} round {rnd}: no login: "
                            f"{err.strip()[:200]}")
                        per = results.setdefault(key, {})
                        if not per.get(s.name):
                            per[s.name] = "unsupported"
                        continue
                    cpu0 = tree_cpu(s.pid)
                    if direction == "upload":
                        with open(s.env.zero_file, "rb") as src:
                            wall, ccpu, rc, err = run_timed(
                                s.ssh(opts) + ["cat > /dev/null"], stdin=src)
                    else:
                        wall, ccpu, rc, err = run_timed(
                            s.ssh(opts) + [f"head -c {n} /dev/zero"])
                    time.sleep(0.2)  # let the server reap its children
                    scpu = tree_cpu(s.pid) - cpu0
                    if rc != 0:
                        log(f"{key} {s.name}: failed: {err.strip()[:200]}")
                        continue
                    t = max(wall - setup, 1e-3)
                    gib = n / (1 << 30)
                    measured(results, key, s.name).append(
                        {"MiB/s": MB / t, "server CPU s/GiB": scpu / gib,
                         "client CPU s/GiB": ccpu / gib})
                    log(f"{key} {s.name} round {rnd}: {MB / t:.0f} MiB/s, "
                        f"server {scpu / gib:.2f} s/GiB")


def fig_latency(servers, results):
    for rnd in range(ROUNDS):
        for s in servers:
            cpu0 = tree_cpu(s.pid)
            walls = []
            for _ in range(20):
                wall, _, rc, err = run_timed(s.ssh() + ["true"])
                if rc == 0:
                    walls.append(wall)
            time.sleep(0.2)
            cpu = (tree_cpu(s.pid) - cpu0) / max(len(walls), 1)
            r = results.setdefault("latency", {}).setdefault(s.name, [])
            r.append({"ms": statistics.median(walls) * 1000 if walls else 0,
                      "server CPU ms/conn": cpu * 1000,
                      "failures": 20 - len(walls)})
            log(f"latency {s.name} round {rnd}: "
                f"{r[-1]['ms']:.1f} ms, {r[-1]['server CPU ms/conn']:.1f} ms CPU")


def fig_rate(servers, results, seconds=10, clients=8):
    for rnd in range(ROUNDS):
        for s in servers:
            done = failed = 0
            end = time.time() + seconds
            procs = []
            while time.time() < end or procs:
                while len(procs) < clients and time.time() < end:
                    procs.append(subprocess.Popen(
                        s.ssh() + ["true"], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                still = []
                for p in procs:
                    rc = p.poll()
                    if rc is None:
                        still.append(p)
                    elif rc == 0:
                        done += 1
                    else:
                        failed += 1
                procs = still
                time.sleep(0.002)
            r = results.setdefault("rate", {}).setdefault(s.name, [])
            r.append({"conn/s": done / seconds, "failures": failed})
            log(f"rate {s.name} round {rnd}: {done / seconds:.1f}/s, "
                f"{failed} failures")


async def open_sessions(s, conns, per_conn, command):
    import asyncssh
    key = asyncssh.read_private_key(s.env.key)
    connections, procs = [], []
    t0 = time.perf_counter()
    failures = 0

    async def one():
        nonlocal failures
        try:
            c = await asyncio.wait_for(asyncssh.connect(
                "127.0.0.1", s.port, username=s.env.user, client_keys=[key],
                known_hosts=None, kex_algs=["curve25519-sha256"],
                config=None), 20)
            connections.append(c)
            for _ in range(per_conn):
                procs.append(await asyncio.wait_for(
                    c.create_process(command), 20))
        except Exception as e:  # noqa: BLE001 - count every failure
            failures += 1
            log(f"{s.name}: session failed: {e!r}")

    # Dropbear refuses more than 5 unauthenticated connections per address
    # (a compile-time limit), so logins are staggered for every server.
    sem = asyncio.Semaphore(4)

    async def limited():
        async with sem:
            await one()

    await asyncio.gather(*(limited() for _ in range(conns)))
    return connections, procs, time.perf_counter() - t0, failures


async def close_all(connections):
    for c in connections:
        c.close()
    for c in connections:
        try:
            await asyncio.wait_for(c.wait_closed(), 5)
        except Exception:  # noqa: BLE001
            pass


def fig_memory(servers, results, n=100):
    for rnd in range(ROUNDS):
        for s in servers:
            time.sleep(0.3)
            idle = tree_pss(s.pid)

            async def go():
                conns, procs, _, fails = await open_sessions(
                    s, n, 1, "exec sleep 600")
                await asyncio.sleep(1.0)
                total = tree_pss(s.pid)
                no_sleep = tree_pss(s.pid, skip_comm="sleep")
                await close_all(conns)
                return total, no_sleep, fails

            total, no_sleep, fails = asyncio.run(go())
            r = results.setdefault("memory", {}).setdefault(s.name, [])
            r.append({"KiB/session (server only)": (no_sleep - idle) / n,
                      "KiB/session (with sleep)": (total - idle) / n,
                      "failures": fails})
            log(f"memory {s.name} round {rnd}: "
                f"{(no_sleep - idle) / n:.0f} KiB/session server-only")


def fig_scale(servers, results, conns=100, per_conn=10):
    for s in servers:
        async def go():
            c, procs, t, fails = await open_sessions(s, conns, per_conn,
                                                     "exec sleep 600")
            await asyncio.sleep(1.0)
            rss = tree_rss_kib(s.pid)
            rss_server = sum(
                tree_rss_kib(p) for p in [s.pid]) if s.name == "whelkd" else 0
            own = 0
            try:
                with open(f"/proc/{s.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            own = int(line.split()[1])
            except OSError:
                pass
            await close_all(c)
            return len(procs), t, rss, own, fails

        opened, t, rss, own, fails = asyncio.run(go())
        results.setdefault("scale", {})[s.name] = [{
            "sessions": opened, "seconds to open": t,
            "tree RSS MiB": rss / 1024, "listener RSS MiB": own / 1024,
            "failures": fails}]
        log(f"scale {s.name}: {opened} sessions in {t:.1f} s, "
            f"listener RSS {own / 1024:.1f} MiB, failures {fails}")


def cpu_ticks():
    """(busy, total) jiffies over all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def fig_multicore(env, results, mb=256):
    """Two concurrent bulk downloads from whelkd with one worker and with
    two: the aggregate throughput should scale with the cores. The share of
    the machine's cores busy during each run says whether there was a core
    left for a second worker to use (clients and `head` run here too)."""
    servers = [Server("whelkd", env, ["-w", "1"]),
               Server("whelkd", env, ["-w", "2"])]
    for s in servers:
        s.start()
    try:
        for rnd in range(ROUNDS):
            for s in servers:
                t0 = time.perf_counter()
                b0, a0 = cpu_ticks()
                procs = [subprocess.Popen(
                    s.ssh() + [f"head -c {mb << 20} /dev/zero"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    for _ in range(2)]
                ok = all(p.wait(300) == 0 for p in procs)
                wall = time.perf_counter() - t0
                b1, a1 = cpu_ticks()
                busy = 100.0 * (b1 - b0) / max(1, a1 - a0)
                key = "multicore: 2 downloads, MiB/s aggregate"
                label = "whelkd " + " ".join(s.extra)
                results.setdefault(key, {}).setdefault(label, []).append(
                    2 * mb / wall if ok else 0.0)
                results.setdefault("multicore: cores busy %", {}).setdefault(
                    label, []).append(busy)
                log(f"multicore {label} round {rnd}: {2 * mb / wall:.0f} "
                    f"MiB/s, cores {busy:.0f}% busy")
    finally:
        for s in servers:
            s.stop()


def need_rategen():
    for tool in (RATEGEN, RELAY):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} is missing: `make bench` builds it "
                     "(or set WHELK_BUILD to a build directory that has it)")


class TunnelPeer:
    """The servers at the tunnels' far ends: bench/tunnelpeer.py's sink and
    source ports, and the echo port of `tunnelrate echo`. |procs| are both
    processes (their CPU is no server's)."""

    def __init__(self):
        need_rategen()
        self.procs = []
        try:
            bulk = self._start([sys.executable, PEER, "serve", str(MB)])
            self.sink, self.source = (int(x) for x in bulk.split())
            self.echo = int(self._start([RATEGEN, "echo"]))
        except Exception:
            self.stop()
            raise

    def _start(self, argv):
        p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                             preexec_fn=raise_nofile)
        self.procs.append(p)
        line = p.stdout.readline().decode()
        if not line.strip():
            raise RuntimeError(f"{' '.join(argv)}: printed no port")
        return line

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
        self.procs = []


def client_run(argv, timeout=600):
    """One run of a tunnel client; its printed numbers."""
    out = subprocess.run([str(a) for a in argv], capture_output=True,
                         text=True, timeout=timeout, preexec_fn=raise_nofile)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-300:])
    return [float(x) for x in out.stdout.split()]


def peer_run(*args, timeout=600):
    """One client run of tunnelpeer.py (upload, download)."""
    return client_run([sys.executable, PEER, *args], timeout)


def rate_run(port, count, parallel, timeout=600):
    """`tunnelrate rate`: [seconds, ok, failed]."""
    return client_run([RATEGEN, "rate", port, count, parallel], timeout)


def open_tunnel(s, peer, opts):
    """ssh -N with one -L per local end of |peer|; waits until the echo
    forward answers. Returns (process, {name: local port})."""
    ports = {name: free_port() for name in ("sink", "source", "echo")}
    fwd = []
    for name, lport in ports.items():
        fwd += ["-L", f"127.0.0.1:{lport}:127.0.0.1:{getattr(peer, name)}"]
    p = subprocess.Popen(s.ssh(opts + ["-N", "-o", "ExitOnForwardFailure=yes"]
                               + fwd),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError(p.stderr.read().decode(errors="replace")[:300])
        try:
            c = socket.create_connection(("127.0.0.1", ports["echo"]), 0.5)
            c.sendall(b"x")
            c.settimeout(5)
            if c.recv(1) == b"x":
                c.close()
                return p, ports
            c.close()
        except OSError:
            pass
        time.sleep(0.05)
    close_tunnel(p)
    raise RuntimeError("the tunnel never answered")


def close_tunnel(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    p.stderr.close()


def fig_tunnel(servers, results, bulk=True, rate=True):
    """`ssh -L` throughput to a sink (upload) and from a source (download),
    MiB/s and server CPU per GiB, with each of TUNNEL_CIPHERS (aes128-gcm,
    the issue's figure; chacha20-poly1305, which Dropbear also has); and
    connections per second through one tunnel to an echo server, with the
    server's CPU per connection, over TUNNEL_RATE_CIPHER for every server
    (the cipher hardly matters for 16-byte exchanges)."""
    n = MB << 20
    gib = n / (1 << 30)
    peer = TunnelPeer()
    try:
        for rnd in range(ROUNDS):
            if bulk:
                tunnel_floor(peer, rnd, n, gib, servers[0].env, results)
            for s in servers:
                for cipher in TUNNEL_CIPHERS:
                    short = cipher.split("@")[0]
                    do_rate = rate and cipher == TUNNEL_RATE_CIPHER
                    if not bulk and not do_rate:
                        continue
                    keys = ([f"tunnel upload {short}",
                             f"tunnel download {short}"] if bulk else []) + \
                        (["tunnel rate"] if do_rate else [])
                    opts = ["-c", cipher]
                    _, _, rc, err = run_timed(s.ssh(opts) + ["true"])
                    if rc != 0:
                        # A round that cannot log in (a busy machine)
                        # does not undo the rounds measured before it.
                        log(f"tunnel {short} {s.name}: {err.strip()[:200]}")
                        for k in keys:
                            per = results.setdefault(k, {})
                            if not per.get(s.name):
                                per[s.name] = "unsupported"
                        continue
                    try:
                        p, ports = open_tunnel(s, peer, opts)
                    except RuntimeError as e:
                        log(f"tunnel {s.name}: {e}")
                        continue
                    try:
                        if bulk:
                            tunnel_bulk(s, ports, short, rnd, n, gib, results)
                        if do_rate:
                            tunnel_rate(s, ports, rnd, results)
                    finally:
                        close_tunnel(p)
    finally:
        peer.stop()


def measured(results, key, name):
    """The list of |name|'s rounds for figure |key|; a round measured
    replaces an "unsupported" left by a round that could not log in."""
    per = results.setdefault(key, {})
    if not isinstance(per.get(name), list):
        per[name] = []
    return per[name]


def tunnel_floor(peer, rnd, n, gib, env, results):
    """The same transfers as tunnel_bulk through bench/relay.c, a plain
    TCP relay: the CPU per GiB the kernel charges a process that passes
    a stream from one socket to another. With its cipher's cost
    (crypto_s_per_gib) it estimates the least an SSH server spends."""
    for direction in ("upload", "download"):
        target = peer.sink if direction == "upload" else peer.source
        p = subprocess.Popen([RELAY, str(target)], stdout=subprocess.PIPE)
        try:
            port = int(p.stdout.readline().decode())
            cpu0 = proc_cpu(p.pid, with_children=False)
            if direction == "upload":
                wall, got = peer_run("upload", port, MB, env.zero_file)
            else:
                wall, got = peer_run("download", port, MB)
            cpu = proc_cpu(p.pid, with_children=False) - cpu0
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
            log(f"tunnel floor {direction}: failed: {e}")
            continue
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
        if got != n:
            log(f"tunnel floor {direction}: {int(got)} of {n} bytes")
            continue
        results.setdefault("tunnel floor", {}).setdefault(
            direction, []).append(cpu / gib)
        log(f"tunnel floor {direction} round {rnd}: relay {cpu / gib:.2f} "
            f"s/GiB, {MB / max(wall, 1e-3):.0f} MiB/s")


def crypto_s_per_gib(evp="aes-128-gcm"):
    """libcrypto's own cost of one pass of |evp| over a GiB in 32 KiB
    records (`openssl speed`, the same library the servers use)."""
    out = subprocess.run(["openssl", "speed", "-elapsed", "-seconds", "2",
                          "-bytes", "32768", "-evp", evp],
                         capture_output=True, text=True).stdout
    m = re.search(r"^\S+\s+([0-9.]+)k\s*$", out.strip().splitlines()[-1])
    return (1 << 30) / (float(m.group(1)) * 1000) if m else None


def tunnel_bulk(s, ports, short, rnd, n, gib, results):
    for direction in ("upload", "download"):
        key = f"tunnel {direction} {short}"
        cpu0 = tree_cpu(s.pid)
        try:
            if direction == "upload":
                wall, got = peer_run("upload", ports["sink"], MB,
                                     s.env.zero_file)
            else:
                wall, got = peer_run("download", ports["source"], MB)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log(f"{key} {s.name}: failed: {e}")
            continue
        scpu = tree_cpu(s.pid) - cpu0
        if got != n:
            log(f"{key} {s.name}: {int(got)} of {n} bytes")
            continue
        t = max(wall, 1e-3)
        measured(results, key, s.name).append(
            {"MiB/s": MB / t, "server CPU s/GiB": scpu / gib})
        log(f"{key} {s.name} round {rnd}: {MB / t:.0f} MiB/s, "
            f"server {scpu / gib:.2f} s/GiB")


def tunnel_rate(s, ports, rnd, results):
    cpu0 = tree_cpu(s.pid)
    try:
        wall, ok, failed = rate_run(ports["echo"], TUNNEL_CONNS,
                                    TUNNEL_PARALLEL)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        log(f"tunnel rate {s.name}: failed: {e}")
        return
    scpu = tree_cpu(s.pid) - cpu0
    per = 1000 * scpu / max(ok, 1)
    measured(results, "tunnel rate", s.name).append(
        {"conn/s": ok / max(wall, 1e-3), "server CPU ms/conn": per,
         "failures": failed})
    log(f"tunnel rate {s.name} round {rnd}: {ok / max(wall, 1e-3):.0f}/s, "
        f"{int(failed)} failures, server {per:.2f} ms/conn")


# ---------------------------------------------------------------------------
# Report


def med(rows, k):
    vals = [r[k] for r in rows]
    return statistics.median(vals), min(vals), max(vals)


def fmt(v):
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}"


def report(results):
    lines = []
    for fig, per_server in results.items():
        if fig.startswith("multicore") or fig == "tunnel floor":
            continue  # side rows below
        metrics = None
        for v in per_server.values():
            if isinstance(v, list) and v:
                metrics = list(v[0].keys())
                break
        if not metrics:
            continue
        for m in metrics:
            row = [f"{fig}: {m}"]
            meds = {}
            for s in SERVERS:
                v = per_server.get(s)
                if v is None:
                    row.append("-")
                elif isinstance(v, str):
                    row.append(v)
                else:
                    md, lo, hi = med(v, m)
                    meds[s] = md
                    row.append(f"{fmt(md)} ({fmt(lo)}–{fmt(hi)})")
            for other in RATIO_TO:
                if "whelkd" in meds and meds.get(other):
                    row.append(f"{meds['whelkd'] / meds[other]:.2f}×")
                else:
                    row.append("-")
            lines.append(row)
    head = ["figure"] + SERVERS + [f"whelkd/{o}" for o in RATIO_TO]
    def side_row(label, value, ratio=""):
        # A whelkd-only figure: its value under whelkd, its ratio under
        # the first ratio column, the other cells empty.
        return ([label, value] + [""] * (len(SERVERS) - 1) + [ratio] +
                [""] * (len(RATIO_TO) - 1))

    floor = results.get("tunnel floor")
    if floor:
        crypto = crypto_s_per_gib()
        for direction, vals in floor.items():
            relay = statistics.median(vals)
            total = relay + (crypto or 0)
            sshd = results.get(f"tunnel {direction} aes128-gcm", {}).get(
                "sshd")
            ratio = ""
            if isinstance(sshd, list) and sshd and crypto:
                ratio = (f"{total / med(sshd, 'server CPU s/GiB')[0]:.2f}×")
            lines.append(side_row(
                f"tunnel {direction} floor: plain relay + aes128-gcm, "
                "CPU s/GiB",
                f"{fmt(relay)} + {fmt(crypto) if crypto else '?'} = "
                f"{fmt(total)}", ratio))
    mc = results.get("multicore: 2 downloads, MiB/s aggregate")
    if mc:
        one = statistics.median(mc.get("whelkd -w 1", [0])) or 1e-9
        two = statistics.median(mc.get("whelkd -w 2", [0]))
        lines.append(side_row("multicore: -w 2 / -w 1, two downloads",
                              f"{fmt(two)} vs {fmt(one)} MiB/s",
                              f"{two / one:.2f}×"))
        busy = results.get("multicore: cores busy %", {})
        if busy:
            b1 = statistics.median(busy.get("whelkd -w 1", [0]))
            b2 = statistics.median(busy.get("whelkd -w 2", [0]))
            lines.append(side_row("multicore: all cores busy (-w 2, -w 1)",
                                  f"{b2:.0f}% vs {b1:.0f}%"))
    return head, lines


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ossl = subprocess.run(["openssl", "version"], capture_output=True,
                          text=True).stdout.strip()
    return (f"{os.cpu_count()} cores, {model}, kernel {platform.release()}, "
            f"{ossl}")


def main():
    tb = not ONLY or "tunnel" in ONLY or "tunnel-bulk" in ONLY
    tr = not ONLY or "tunnel" in ONLY or "tunnel-rate" in ONLY
    if tb or tr:
        need_rategen()  # now, not after the figures before the tunnel's
    tmp = tempfile.mkdtemp(prefix="whelk-bench-")
    env = Env(tmp)
    servers = [Server(n, env) for n in SERVERS]
    results = {}
    pam_file = "/etc/pam.d/whelkd"
    made_pam = PAM and not os.path.exists(pam_file)
    if made_pam:
        shutil.copy(os.path.join(ROOT, "contrib", "pam", "whelkd"), pam_file)
    try:
        figs = [("bulk", fig_bulk), ("latency", fig_latency),
                ("rate", fig_rate), ("memory", fig_memory),
                ("scale", fig_scale)]
        def fresh():
            # Fresh servers for every figure: what one figure leaves
            # behind (Dropbear's children still inside the login grace
            # time after the rate figure's refusals) must not count
            # against the next.
            for s in servers:
                s.stop()
                s.start()

        for name, fn in figs:
            if not ONLY or name in ONLY:
                fresh()
                fn(servers, results)
        if tb or tr:
            fresh()
            fig_tunnel(servers, results, bulk=tb, rate=tr)
        if not ONLY or "multicore" in ONLY:
            fig_multicore(env, results)
    finally:
        for s in servers:
            s.stop()
        if made_pam:
            os.unlink(pam_file)
        if os.geteuid() == 0:  # the sessions' programs, e.g. sleep
            subprocess.run(["pkill", "-KILL", "-u", BENCH_USER],
                           stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
    head, rows = report(results)
    widths = [max(len(str(r[i])) for r in rows + [head])
              for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    cmd = "make bench" + (f" (BENCH_MB={MB})" if MB != 512 else "") + \
        (" (BENCH_PAM=1: whelkd and sshd with UsePAM yes)" if PAM else "")
    md = [f"## {datetime.date.today().isoformat()}: `{cmd}`", "",
          f"Machine: {machine()}. Rounds: {ROUNDS}, interleaved. "
          f"Bulk size {MB} MiB. Medians with (min–max).", "",
          "| " + " | ".join(head) + " |",
          "| " + " | ".join("---" for _ in head) + " |"]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    out = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    prev = ""
    if os.path.exists(out):
        with open(out) as f:
            prev = f.read()
    intro = "# Benchmarks\n\nNewest run first; each made by the command in its heading.\n\n"
    body = prev[len(intro):] if prev.startswith(intro) else prev
    with open(out, "w") as f:
        f.write(intro + "\n".join(md) + "\n\n" + body)
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()

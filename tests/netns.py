"""Hosts on this machine: each a Linux network namespace joined to the others by a
veth pair on a bridge of their own, with a mount namespace (a private tmpfs on
/tmp, where its processes work) and a host name of its own. Hosts share nothing but
that network: no address exists outside the namespaces made here (10.213.0.0/24 on
the bridge, nothing in the machine's own namespace), and a file one host writes
under /tmp no other sees.

    with Network() as net:
        db = net.host("storage")                  # 10.213.0.2
        db.spawn("moto", [sys.executable, "-m", "moto.server", "-H", db.ip, "-p", "9000"])
        with db.entered():                        # this thread's new sockets are on that host
            ...
        db.kill()                                 # every process of the host SIGKILLed (a host lost)
        db.boot()                                 # up again: a fresh /tmp, nothing running

Every process of a host runs under `nsenter` into the namespaces held by its init
(`sleep infinity` under `unshare --mount --uts`), so `kill()` is what a power cut
is: `ip netns pids` lists them all. Needs root. Names carry the id of the process
that made them, so `sweep()` removes what a run killed outright left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

SUBNET = "10.213.0"  # .0/24, on our bridge only
PREFIX_NS, PREFIX_BRIDGE, PREFIX_VETH = "sfn", "sfb", "sfv"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (`ip netns add` is refused to other users)"
    for tool in ("ip", "nsenter", "unshare", "mount", "hostname"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install iproute2 util-linux mount hostname)"
    probe = f"{PREFIX_NS}{os.getpid()}-probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode:
        return f"`ip netns add` is refused here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _needed_under_tmp() -> list[str]:
    """The folders under /tmp that the hosts' Python processes need: the
    interpreter's prefixes and this process's import path (outermost first)."""
    import sys

    found = sorted(
        {
            os.path.realpath(p)
            for p in [sys.prefix, sys.base_prefix, *sys.path, os.getcwd()]
            if p and os.path.isdir(p) and os.path.realpath(p).startswith("/tmp/")
        }
    )
    outer: list[str] = []
    for path in found:
        if not any(path == o or path.startswith(o + "/") for o in outer):
            outer.append(path)
    return outer


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def netns_pids(ns: str) -> list[int]:
    out = _ip("netns", "pids", ns, check=False).stdout
    return [int(p) for p in out.split()]


def _kill_all(ns: str) -> None:
    """SIGKILL every process in network namespace `ns` until none is left (one may
    fork while the others die)."""
    for _ in range(50):
        pids = netns_pids(ns)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def sweep() -> list[str]:
    """Remove the namespaces and bridges of runs whose process is gone (killed
    outright, with no chance to tear down); returns what was removed."""
    removed = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        m = re.match(rf"^{PREFIX_NS}(\d+)-", name)
        if m and not _alive(int(m.group(1))):
            _kill_all(name)
            _ip("netns", "del", name, check=False)
            removed.append(name)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        m = re.match(rf"^\d+: (({PREFIX_BRIDGE}|{PREFIX_VETH})(\d+)(x\d+)?)[:@]", line)
        if m and not _alive(int(m.group(3))):
            _ip("link", "del", m.group(1), check=False)
            removed.append(m.group(1))
    return removed


class Host:
    """One host: a network namespace, and an init holding its mount and UTS
    namespaces. Processes started with spawn() are tracked by name."""

    def __init__(self, net: Network, name: str, index: int, tmpfs: str = "1g") -> None:
        self.net, self.name, self.index, self.tmpfs = net, name, index, tmpfs
        self.ns = f"{net.prefix}-{name}"
        self.ip = f"{SUBNET}.{index + 2}"
        self.veth = f"{PREFIX_VETH}{os.getpid()}x{index}"
        self.init: subprocess.Popen[str] | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env: dict[str, str] = {}  # added to every process's environment

    # -- the host itself -----------------------------------------------------------------

    def create(self) -> None:
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        _ip("link", "set", self.veth, "master", self.net.bridge, "up")
        _ip("-n", self.ns, "addr", "add", f"{self.ip}/24", "dev", "eth0")
        _ip("-n", self.ns, "link", "set", "eth0", "up")
        _ip("-n", self.ns, "link", "set", "lo", "up")
        self.boot()

    def boot(self) -> None:
        """Start the host's init: a new mount namespace with an empty tmpfs on /tmp
        and the host's name. Nothing else runs until spawned. What Python needs to
        run (this interpreter, its venv, the checkout) stays visible where it lies,
        also when that is under /tmp (a test's copy of the checkout, say): it is
        bound aside on a scratch tmpfs at /mnt first, and moved back in place."""
        keep = _needed_under_tmp()
        aside = [f"mkdir -p /mnt/k{i} && mount --bind {shlex.quote(p)} /mnt/k{i}" for i, p in enumerate(keep)]
        back = [f"mkdir -p {shlex.quote(p)} && mount --move /mnt/k{i} {shlex.quote(p)}" for i, p in enumerate(keep)]
        steps = [
            *(["mount -t tmpfs keep /mnt", *aside] if keep else []),
            f"mount -t tmpfs -o size={self.tmpfs},mode=1777 {self.name} /tmp",
            *([*back, "umount /mnt"] if keep else []),
            f"hostname {self.name}",
            "echo up",
            "exec sleep infinity",
        ]
        script = " && ".join(steps)
        self.init = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.ns,
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.init.stdout is not None
        if self.init.stdout.readline().strip() != "up":
            raise RuntimeError(f"host {self.name} did not boot: {self.init.communicate()[1]}")

    def kill(self) -> None:
        """Every process of the host SIGKILLed at once, as when the host is lost;
        its /tmp goes with its init."""
        _kill_all(self.ns)
        for proc in [*self.procs.values(), *([self.init] if self.init else [])]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        self.procs.clear()
        self.init = None

    def signal_all(self, sig: int) -> None:
        """Send `sig` to every process of the host (SIGSTOP freezes the host)."""
        for pid in netns_pids(self.ns):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def destroy(self) -> None:
        self.kill()
        _ip("netns", "del", self.ns, check=False)
        # A namespace outlives its name while a socket in it lingers (a FIN that no
        # one answers); deleting our end of the pair takes the interface down now.
        _ip("link", "del", self.veth, check=False)

    # -- processes -----------------------------------------------------------------------

    def command(self, argv: Sequence[str], user: tuple[int, int] | None = None) -> list[str]:
        """`argv` run inside this host, in /tmp, as `user` (uid, gid) or root."""
        assert self.init is not None, f"host {self.name} is down"
        who = [] if user is None else ["-S", str(user[0]), "-G", str(user[1])]
        env = {"HOME": "/tmp", "TMPDIR": "/tmp", "PYTHONUNBUFFERED": "1", **self.env}
        return [
            "nsenter",
            "-t",
            str(self.init.pid),
            "-m",
            "-u",
            "-n",
            "--wd=/tmp",
            *who,
            "--",
            "env",
            *(f"{k}={v}" for k, v in env.items()),
            *argv,
        ]

    def spawn(
        self, name: str, argv: Sequence[str], user: tuple[int, int] | None = None, stdout: int | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process of this host; its output goes to the
        network's log folder (or to a pipe with stdout=subprocess.PIPE)."""
        log = open(self.net.logs / f"{self.name}-{name}.log", "ab")  # noqa: SIM115 - the child holds it
        try:
            proc = subprocess.Popen(self.command(argv, user), stdout=log if stdout is None else stdout, stderr=log)
        finally:
            log.close()
        self.procs[name] = proc
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Signal one spawned process and wait for it; its exit status."""
        proc = self.procs.pop(name)
        # nsenter execs env, which execs the program: the pid is the program's.
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def run(
        self, argv: Sequence[str], user: tuple[int, int] | None = None, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` to its end on this host."""
        return subprocess.run(self.command(argv, user), capture_output=True, text=True, timeout=timeout, check=check)

    # -- this process on the host's network ------------------------------------------------

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """While inside, the calling thread is on this host's network: sockets it
        opens (and threads it starts) belong to the host. The thread's own file
        system stays the machine's. Only the network namespace is switched, which
        Linux allows per thread."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        try:
            _setns(there)
            try:
                yield
            finally:
                _setns(here)
        finally:
            os.close(here)
            os.close(there)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def enter_netns(ns: str) -> None:
    """Move the calling thread (in a fresh process: the process) onto network
    namespace `ns`; for a process pool's initializer."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        _setns(fd)
    finally:
        os.close(fd)


class Network:
    """A bridge and the hosts on it; `close()` (or leaving the with-block) kills
    every process of every host and removes the namespaces, veths and bridge."""

    def __init__(self, logs: Path) -> None:
        self.prefix = f"{PREFIX_NS}{os.getpid()}"
        self.bridge = f"{PREFIX_BRIDGE}{os.getpid()}"
        self.logs = logs
        self.hosts: dict[str, Host] = {}

    def __enter__(self) -> Network:
        sweep()
        self.logs.mkdir(parents=True, exist_ok=True)
        # Bridged frames skip iptables (where br_netfilter is loaded, a FORWARD policy
        # of DROP would cut the hosts off from each other); older kernels lack the option.
        if _ip("link", "add", self.bridge, "type", "bridge", "nf_call_iptables", "0", check=False).returncode:
            _ip("link", "add", self.bridge, "type", "bridge")
        _ip("link", "set", self.bridge, "up")
        return self

    def host(self, name: str, tmpfs: str = "1g") -> Host:
        host = Host(self, name, len(self.hosts), tmpfs)
        self.hosts[name] = host
        host.create()
        return host

    def close(self) -> None:
        # Every host's processes first, all of them: connections between two dead
        # processes close at once, while one left alive would keep its peer's open.
        for host in self.hosts.values():
            _kill_all(host.ns)
        for host in self.hosts.values():
            host.destroy()
        _ip("link", "del", self.bridge, check=False)

    def __exit__(self, *exc: object) -> None:
        self.close()

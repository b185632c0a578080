"""Network-namespace plumbing for the failover drill: two "availability zones" on one machine.

Layout (one private /24 per drill, chosen at random among ``10.200-249.x.0/24`` so
that it does not overlap any route or address already on the machine)::

    root namespace (clients, pgbouncer, controller)
      rr<tag>a  .1/30  <-veth->  .2/30  ns "rrds-<pid>-<tag>-a"  (primary)
      rr<tag>b  .5/30  <-veth->  .6/30  ns "rrds-<pid>-<tag>-b"  (standby)
    ns a  .9/30  <-veth "replication link"->  .10/30  ns b

No forwarding is enabled anywhere: every link is point-to-point, so traffic only
ever goes between the root namespace and the drill's own namespaces.  The
"network loss" fault sets every link of a namespace down: packets to it vanish,
nobody sends a reset (as when an availability zone drops off the network).

:func:`Topology.destroy` (also registered with :mod:`atexit`) removes the
namespaces and the root-side veths; :func:`sweep_stale` removes those left
behind by drills whose process died.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import random
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field

NS_PREFIX = "rrds-"
_NS_RE = re.compile(r"^rrds-(\d+)-([0-9a-f]{6})-[ab]$")


class NetnsError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def available() -> bool:
    """True if we may create network namespaces (root and iproute2 present)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"{NS_PREFIX}{os.getpid()}-{secrets.token_hex(3)}-a"
    if _ip("netns", "add", name, check=False).returncode != 0:
        return False
    _ip("netns", "del", name, check=False)
    return True


def list_namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def sweep_stale() -> list[str]:
    """Delete drill namespaces (and their veths) whose creating process is gone."""
    removed = []
    for name in list_namespaces():
        match = _NS_RE.match(name)
        if not match:
            continue
        pid, tag = int(match.group(1)), match.group(2)
        try:
            os.kill(pid, 0)
            continue  # owner still alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _ip("netns", "del", name, check=False)
        for suffix in ("a", "b"):
            _ip("link", "del", f"rr{tag}{suffix}", check=False)
        removed.append(name)
    return removed


def _used_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for line in _ip("-4", "route", "show", "table", "all", check=False).stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "blackhole", "prohibit"):
            word = line.split()[1]
        with contextlib.suppress(ValueError):
            if word != "default":
                nets.append(ipaddress.ip_network(word, strict=False))
    for line in _ip("-4", "-o", "addr", "show", check=False).stdout.splitlines():
        match = re.search(r"inet (\S+)", line)
        if match:
            nets.append(ipaddress.ip_interface(match.group(1)).network)
    return nets


def pick_subnet() -> ipaddress.IPv4Network:
    """A private /24 that overlaps nothing routed or addressed on this machine."""
    used = _used_networks()
    rng = random.Random(secrets.randbits(32))
    for _ in range(200):
        net = ipaddress.IPv4Network(f"10.{rng.randint(200, 249)}.{rng.randint(0, 255)}.0/24")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return net
    raise NetnsError("no free 10.200-249.x.0/24 subnet found")


@dataclass
class Topology:
    """Two namespaces ("AZ a" and "AZ b"), each linked to the root namespace and to each other."""

    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    subnet: ipaddress.IPv4Network | None = None
    created: bool = False

    def __post_init__(self) -> None:
        pid = os.getpid()
        self.ns = {"a": f"{NS_PREFIX}{pid}-{self.tag}-a", "b": f"{NS_PREFIX}{pid}-{self.tag}-b"}
        self.root_if = {"a": f"rr{self.tag}a", "b": f"rr{self.tag}b"}
        self.inner_if = {"a": f"rr{self.tag}A", "b": f"rr{self.tag}B"}
        self.repl_if = {"a": f"rr{self.tag}x", "b": f"rr{self.tag}y"}

    # --- addresses ---------------------------------------------------------------------------------

    def _addr(self, offset: int) -> str:
        assert self.subnet is not None
        return str(self.subnet.network_address + offset)

    def root_ip(self, zone: str) -> str:
        """The root namespace's end of *zone*'s link."""
        return self._addr({"a": 1, "b": 5}[zone])

    def server_ip(self, zone: str) -> str:
        """The address clients in the root namespace use to reach *zone*'s server."""
        return self._addr({"a": 2, "b": 6}[zone])

    def repl_ip(self, zone: str) -> str:
        """*zone*'s address on the a<->b replication link."""
        return self._addr({"a": 9, "b": 10}[zone])

    @property
    def addresses(self) -> set[str]:
        return {self.root_ip(z) for z in "ab"} | {self.server_ip(z) for z in "ab"} | {self.repl_ip(z) for z in "ab"}

    # --- lifecycle ---------------------------------------------------------------------------------

    def create(self) -> Topology:
        sweep_stale()
        self.subnet = self.subnet or pick_subnet()
        atexit.register(self.destroy)
        self.created = True
        try:
            for zone in "ab":
                ns = self.ns[zone]
                _ip("netns", "add", ns)
                self.netns_exec(zone, ["ip", "link", "set", "lo", "up"])
                _ip("link", "add", self.root_if[zone], "type", "veth", "peer", "name", self.inner_if[zone])
                _ip("link", "set", self.inner_if[zone], "netns", ns)
                _ip("addr", "add", f"{self.root_ip(zone)}/30", "dev", self.root_if[zone])
                _ip("link", "set", self.root_if[zone], "up")
                self.netns_exec(zone, ["ip", "addr", "add", f"{self.server_ip(zone)}/30", "dev", self.inner_if[zone]])
                self.netns_exec(zone, ["ip", "link", "set", self.inner_if[zone], "up"])
            _ip("link", "add", self.repl_if["a"], "netns", self.ns["a"], "type", "veth",
                "peer", "name", self.repl_if["b"], "netns", self.ns["b"])
            for zone in "ab":
                self.netns_exec(zone, ["ip", "addr", "add", f"{self.repl_ip(zone)}/30", "dev", self.repl_if[zone]])
                self.netns_exec(zone, ["ip", "link", "set", self.repl_if[zone], "up"])
            self._pin_neighbours()
        except Exception:
            self.destroy()
            raise
        return self

    def _mac(self, zone: str | None, ifname: str) -> str:
        cmd = ["ip", "-o", "link", "show", ifname]
        out = (self.netns_exec(zone, cmd) if zone else _ip(*cmd[1:])).stdout
        match = re.search(r"link/ether (\S+)", out)
        if not match:
            raise NetnsError(f"no MAC address for {ifname}")
        return match.group(1)

    def _pin_neighbours(self) -> None:
        """Permanent ARP entries, so that a dead link is a pure black hole.

        Without them the kernel gives up resolving the address after ~3 s and
        reports "no route to host" to new connections, which a real lost zone
        does not do.
        """
        for zone in "ab":
            inner_mac = self._mac(zone, self.inner_if[zone])
            root_mac = self._mac(None, self.root_if[zone])
            _ip("neigh", "replace", self.server_ip(zone), "lladdr", inner_mac, "nud", "permanent", "dev", self.root_if[zone])
            self.netns_exec(zone, ["ip", "neigh", "replace", self.root_ip(zone), "lladdr", root_mac, "nud", "permanent",
                                   "dev", self.inner_if[zone]])
        mac_a, mac_b = self._mac("a", self.repl_if["a"]), self._mac("b", self.repl_if["b"])
        self.netns_exec("a", ["ip", "neigh", "replace", self.repl_ip("b"), "lladdr", mac_b, "nud", "permanent",
                              "dev", self.repl_if["a"]])
        self.netns_exec("b", ["ip", "neigh", "replace", self.repl_ip("a"), "lladdr", mac_a, "nud", "permanent",
                              "dev", self.repl_if["b"]])

    def destroy(self) -> None:
        """Remove the namespaces and veths (idempotent; processes inside must be stopped first)."""
        if not self.created:
            return
        for zone in "ab":
            with contextlib.suppress(Exception):
                self.abort_sockets(zone)
        for zone in "ab":
            _ip("netns", "del", self.ns[zone], check=False)
            _ip("link", "del", self.root_if[zone], check=False)
        self.created = False
        with contextlib.suppress(Exception):
            atexit.unregister(self.destroy)

    def __enter__(self) -> Topology:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # --- operations ----------------------------------------------------------------------------------

    def netns_exec(self, zone: str, cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["ip", "netns", "exec", self.ns[zone], *cmd], capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise NetnsError(f"{' '.join(cmd)} in {self.ns[zone]} failed: {result.stderr.strip()}")
        return result

    def abort_sockets(self, zone: str) -> None:
        """Abort every TCP socket of the root namespace to *zone*'s server (``ss -K``, as on a timeout).

        Run before the namespaces go: a socket still retransmitting to an address
        whose route has disappeared would send its packets to the default route.
        """
        subprocess.run(["ss", "-K", "dst", self.server_ip(zone)], capture_output=True, text=True, timeout=20)

    def set_links(self, zone: str, up: bool) -> None:
        """Take every link of *zone* down (network loss: packets vanish, no reset) or back up."""
        state = "up" if up else "down"
        for ifname in (self.inner_if[zone], self.repl_if[zone]):
            self.netns_exec(zone, ["ip", "link", "set", ifname, state])

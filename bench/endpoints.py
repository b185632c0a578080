"""The writer endpoint of the failover drills: a name whose target moves at promotion.

Like the RDS writer endpoint (a DNS name), a move affects only *new*
connections: established ones stay with the old host.

* :class:`HostsEndpoint` (netns topology): a host name in this process's private /etc/hosts.
* :class:`ForwarderEndpoint` (loopback topology): a TCP forwarder on 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import shutil
import socket
import subprocess
import threading
from pathlib import Path

from bench.pgcluster import make_workdir
from bench.process import in_private_mounts

WRITER_HOST = "writer.rrds.internal"


class HostsEndpoint:
    """A host name in this process's private /etc/hosts: a DNS record we can change.

    The file is bind-mounted over /etc/hosts once (we are in a private mount
    namespace); changing the address rewrites its 15 characters in place with
    one ``pwrite``, so a concurrent lookup sees the old or the new address,
    never a half-written file.
    """

    _file: Path | None = None
    _offset = 0

    def __init__(self, name: str = WRITER_HOST) -> None:
        if not in_private_mounts():
            raise RuntimeError("HostsEndpoint needs a private mount namespace (see bench.process)")
        self.host = name
        self.port = 0
        self._install()

    @classmethod
    def _install(cls) -> None:
        if cls._file is not None:
            return
        original = Path("/etc/hosts").read_text()
        if not original.endswith("\n"):
            original += "\n"
        workdir = make_workdir("rrds-hosts-")
        atexit.register(shutil.rmtree, workdir, True)  # the bind mount ends with our mount namespace
        path = workdir / "hosts"
        head = original + "# resilient-rds failover drill (private mount namespace)\n"
        path.write_text(head + f"{'127.0.0.1':<15} {WRITER_HOST}\n")
        path.chmod(0o644)
        subprocess.run(["mount", "--bind", str(path), "/etc/hosts"], check=True, capture_output=True, timeout=10)
        cls._file, cls._offset = path, len(head.encode())

    def point_to(self, address: str, port: int) -> None:
        assert self._file is not None and len(address) <= 15
        fd = os.open(self._file, os.O_WRONLY)
        try:
            os.pwrite(fd, f"{address:<15}".encode(), self._offset)
        finally:
            os.close(fd)
        self.port = port

    def close(self) -> None:
        pass


class ForwarderEndpoint:
    """Loopback fallback: a TCP forwarder whose *new* connections go to the current target.

    Established connections keep their upstream (as with DNS), and are closed
    when the upstream closes or resets.
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._target: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="forwarder", daemon=True)
        self._thread.start()

    def point_to(self, address: str, port: int) -> None:
        self._target = (address, port)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._pipe, args=(client, self._target), daemon=True).start()

    def _pipe(self, client: socket.socket, target: tuple[str, int] | None) -> None:
        try:
            if target is None:
                return
            upstream = socket.create_connection(target, timeout=2)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        socks = [client, upstream]
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select(socks, [], [], 0.5)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


Endpoint = HostsEndpoint | ForwarderEndpoint

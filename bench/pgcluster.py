"""Throwaway local PostgreSQL 15 clusters for tests and drills.

PostgreSQL refuses to run as root, and sessions and CI run as root, so every
server process is started as the ``postgres`` user (``runuser``) in a directory
under /tmp that the user owns (pytest's tmp_path is private to root).  Servers
listen on loopback (or on addresses the caller passes, for the drills' own
network namespaces) on a free port, and are removed by :meth:`PgCluster.destroy`.

Usage::

    with PgCluster.create() as pg:
        with psycopg.connect(pg.conninfo()) as conn: ...
        pg.kill()       # SIGKILL the postmaster: a crash
        pg.start()
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"
#: Password of the non-superuser ``app`` role every cluster gets (SCRAM over TCP).
APP_USER = "app"
APP_PASSWORD = "app-password-for-local-tests"  # noqa: S105 (local throwaway cluster)


class PgClusterError(RuntimeError):
    pass


def _as_postgres(cmd: Sequence[str], netns: str | None = None) -> list[str]:
    """Prefix *cmd* so that it runs as the postgres user when we are root (inside network namespace *netns*)."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    if os.geteuid() == 0:
        return [*prefix, "runuser", "-u", PG_USER, "--", *cmd]
    return [*prefix, *cmd]


def run_as_postgres(cmd: Sequence[str], *, timeout_s: float = 60, check: bool = True,
                    netns: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(_as_postgres(cmd, netns), capture_output=True, text=True, timeout=timeout_s)
    if check and result.returncode != 0:
        raise PgClusterError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return result


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def make_workdir(prefix: str = "rrds-pg-") -> Path:
    """A directory under /tmp that the postgres user owns."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(PG_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _is_zombie(pid: int) -> bool:
    """A killed server whose parent (init, after pg_ctl daemonized it) has not reaped it yet is not running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def binaries_available() -> bool:
    return (PG_BIN / "postgres").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)


class PgCluster:
    """One PostgreSQL data directory and the server running on it."""

    def __init__(self, workdir: Path, name: str, port: int, host: str = "127.0.0.1", netns: str | None = None) -> None:
        self.workdir = workdir
        #: Network namespace the server runs in (None: the caller's); see bench/netns.py.
        self.netns = netns
        self.name = name
        self.port = port
        self.host = host
        self.datadir = workdir / name
        self.socket_dir = workdir / "sockets"
        self.logfile = workdir / f"{name}.log"
        self._owns_workdir = False

    # --- creation -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        name: str = "primary",
        workdir: Path | None = None,
        port: int | None = None,
        listen_addresses: Sequence[str] = ("127.0.0.1",),
        settings: Mapping[str, str] | None = None,
        hba_extra: Sequence[str] = (),
        ssl: bool = False,
        start: bool = True,
        netns: str | None = None,
    ) -> PgCluster:
        """initdb a new cluster (as the postgres user), configure it, and start it.

        Every cluster has a superuser ``postgres`` (trust over the socket and
        loopback) and a login role ``app`` / :data:`APP_PASSWORD` (SCRAM over TCP)
        owning database ``app``.

        With *netns*, the server runs inside that network namespace (it must
        exist, with *listen_addresses* configured in it); the Unix socket under
        the workdir still reaches it from any namespace.
        """
        if not binaries_available():
            raise PgClusterError(f"PostgreSQL 15 binaries not found in {PG_BIN} (run `make setup`)")
        owns = workdir is None
        workdir = workdir or make_workdir()
        cluster = cls(workdir, name, port or free_port(), host=listen_addresses[0], netns=netns)
        cluster._owns_workdir = owns
        cluster.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(PG_USER)
            os.chown(cluster.socket_dir, entry.pw_uid, entry.pw_gid)
        run_as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(cluster.datadir), "-U", PG_USER, "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            timeout_s=120,
        )
        conf = {
            "listen_addresses": ",".join(listen_addresses),
            "port": str(cluster.port),
            "unix_socket_directories": str(cluster.socket_dir),
            "max_connections": "100",
            "shared_buffers": "32MB",
            "fsync": "on",
            "synchronous_commit": "on",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "hot_standby": "on",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "password_encryption": "scram-sha-256",
        }
        if ssl:
            cluster._make_certificate()
            conf.update(ssl="on", ssl_cert_file="server.crt", ssl_key_file="server.key")
        conf.update(settings or {})
        cluster.write_settings(conf)
        hba = [
            "local all all trust",
            "host all postgres 127.0.0.1/32 trust",
            "host replication postgres 127.0.0.1/32 trust",
            "host all all 127.0.0.1/32 scram-sha-256",
            "host all all ::1/128 scram-sha-256",
            *hba_extra,
        ]
        (cluster.datadir / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        if start:
            cluster.start()
            cluster.sql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
            cluster.sql(f"CREATE DATABASE {APP_USER} OWNER {APP_USER}")
        return cluster

    def _make_certificate(self) -> None:
        run_as_postgres(
            ["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(self.datadir / "server.key"), "-out", str(self.datadir / "server.crt")],
        )
        run_as_postgres(["chmod", "600", str(self.datadir / "server.key")])

    @property
    def certificate(self) -> Path:
        """The server's self-signed certificate, usable as ``sslrootcert``."""
        return self.datadir / "server.crt"

    def write_settings(self, settings: Mapping[str, str]) -> None:
        """Append settings to postgresql.conf (later lines win); needs a reload or restart."""
        lines = [f"{key} = '{value}'" for key, value in settings.items()]
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# resilient-rds test settings\n" + "\n".join(lines) + "\n")

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self, timeout_s: float = 30) -> None:
        run_as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", str(int(timeout_s)),
             "start"],
            timeout_s=timeout_s + 10,
            netns=self.netns,
        )

    def stop(self, mode: str = "fast", timeout_s: float = 30) -> None:
        """Stop the server (``smart``, ``fast`` or ``immediate``); no error if it is not running."""
        if not self.running():
            return
        run_as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "-t", str(int(timeout_s)), "stop"],
            timeout_s=timeout_s + 10,
            check=False,
            netns=self.netns,
        )

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def reload(self) -> None:
        self.sql("SELECT pg_reload_conf()")

    def postmaster_pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return not _is_zombie(pid)

    def server_pids(self) -> list[int]:
        """The postmaster and all its children (backends, walwriter, …)."""
        pid = self.postmaster_pid()
        if pid is None:
            return []
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        return [pid, *(int(c) for c in children)]

    def kill(self) -> None:
        """Crash: SIGKILL the postmaster and every backend, as a host dying would."""
        for pid in self.server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        (self.datadir / "postmaster.pid").unlink(missing_ok=True)

    def pause(self) -> None:
        """Hang: SIGSTOP every server process; TCP stays up and nothing answers."""
        for pid in self.server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self.server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def destroy(self) -> None:
        """Stop the server however it is, and delete its files."""
        with contextlib.suppress(Exception):
            self.resume()
        with contextlib.suppress(Exception):
            self.stop("immediate", timeout_s=10)
        if self.running():
            self.kill()
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.logfile.unlink(missing_ok=True)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # --- replication --------------------------------------------------------------------------------

    def create_standby(self, name: str = "standby", port: int | None = None, *, synchronous: bool = True,
                       start: bool = True, netns: str | None = None, listen_addresses: Sequence[str] | None = None,
                       primary_host: str = "127.0.0.1") -> PgCluster:
        """A streaming standby of this cluster (``pg_basebackup -R``), in the same workdir.

        With *synchronous*, the primary waits for the standby to flush every commit
        (``synchronous_standby_names``), so an acknowledged commit is on both, as in
        Multi-AZ.  With *netns*, the standby runs in that network namespace,
        listens on *listen_addresses* and streams from the primary at
        *primary_host* (which must reach it from there, with a ``host replication``
        trust line in the primary's pg_hba.conf).
        """
        host = listen_addresses[0] if listen_addresses else self.host
        standby = PgCluster(self.workdir, name, port or free_port(), host=host, netns=netns)
        run_as_postgres(
            [str(PG_BIN / "pg_basebackup"), "-D", str(standby.datadir), "-h", primary_host, "-p", str(self.port),
             "-U", PG_USER, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
             "-d", f"application_name={name}"],
            timeout_s=120,
            netns=netns,
        )
        extra = {"listen_addresses": ",".join(listen_addresses)} if listen_addresses else {}
        if standby.port == self.port:
            # Same port in another network namespace: the Unix socket needs its own directory.
            standby.socket_dir = self.workdir / f"sockets-{name}"
            standby.socket_dir.mkdir(exist_ok=True)
            if os.geteuid() == 0:
                entry = pwd.getpwnam(PG_USER)
                os.chown(standby.socket_dir, entry.pw_uid, entry.pw_gid)
            extra["unix_socket_directories"] = str(standby.socket_dir)
        standby.write_settings({"port": str(standby.port), **extra, "primary_conninfo":
                                f"host={primary_host} port={self.port} user={PG_USER} application_name={name}"})
        if start:
            standby.start()
        if synchronous:
            self.write_settings({"synchronous_standby_names": f"FIRST 1 ({name})", "synchronous_commit": "on"})
            self.reload()
            if start:
                self.wait_for_sync_standby(name)
        return standby

    def wait_for_sync_standby(self, name: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.sql(f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'")
            if state.strip() == "sync":
                return
            time.sleep(0.1)
        raise PgClusterError(f"standby {name} did not become synchronous within {timeout_s} s")

    def promote(self, timeout_s: float = 30) -> None:
        run_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", str(int(timeout_s)), "promote"],
                        timeout_s=timeout_s + 10, netns=self.netns)

    # --- access ---------------------------------------------------------------------------------------

    def conninfo(self, *, dbname: str = "postgres", user: str = PG_USER, host: str | None = None, **extra: object) -> str:
        parts = {"host": host or self.host, "port": self.port, "dbname": dbname, "user": user, **extra}
        if user == APP_USER and "password" not in extra:
            parts["password"] = APP_PASSWORD
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def sql(self, statement: str, *, dbname: str = "postgres", timeout_s: float = 30) -> str:
        """Run *statement* with psql over the Unix socket as the superuser; return its output."""
        result = run_as_postgres(
            [str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
             "-p", str(self.port), "-U", PG_USER, "-d", dbname, "-c", statement],
            timeout_s=timeout_s,
        )
        return result.stdout

    def log(self) -> str:
        try:
            return self.logfile.read_text()
        except FileNotFoundError:
            return ""


@contextlib.contextmanager
def cluster(**kwargs: object) -> Iterator[PgCluster]:
    pg = PgCluster.create(**kwargs)  # type: ignore[arg-type]
    try:
        yield pg
    finally:
        pg.destroy()


# --- pgbouncer: the local stand-in for RDS Proxy -------------------------------------------------------

PGBOUNCER_ADMIN_USER = "pgb_admin"
PGBOUNCER_ADMIN_PASSWORD = "pgb-admin-password-for-local-tests"  # noqa: S105 (local throwaway pooler)


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)


class Pgbouncer:
    """A pgbouncer (run as the postgres user) in front of one PostgreSQL server, on loopback.

    ``pool_mode = transaction`` by default, as RDS Proxy multiplexes.  :meth:`repoint`
    rewrites the backend in the config and RELOADs + RECONNECTs through the admin
    console: new server connections go to the new host, as RDS Proxy re-targets
    after a failover while its client connections stay open.
    """

    def __init__(self, workdir: Path, *, backend_host: str, backend_port: int, port: int | None = None,
                 dbname: str = APP_USER, settings: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.backend_host = backend_host
        self.backend_port = backend_port
        self.dbname = dbname
        self.settings = dict(settings or {})
        self.dir = workdir / f"pgbouncer-{self.port}"
        self.ini = self.dir / "pgbouncer.ini"
        self.pidfile = self.dir / "pgbouncer.pid"
        self.logfile = self.dir / "pgbouncer.log"

    @classmethod
    def start_new(cls, workdir: Path, **kwargs: object) -> Pgbouncer:
        bouncer = cls(workdir, **kwargs)  # type: ignore[arg-type]
        bouncer.start()
        return bouncer

    def _write_config(self) -> None:
        conf = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "scram-sha-256",
            "auth_file": str(self.dir / "userlist.txt"),
            "admin_users": PGBOUNCER_ADMIN_USER,
            "pool_mode": "transaction",
            "pidfile": str(self.pidfile),
            "logfile": str(self.logfile),
            "log_connections": "0",
            "log_disconnections": "0",
            "ignore_startup_parameters": "extra_float_digits,options,statement_timeout",
            **self.settings,
        }
        db = f"{self.dbname} = host={self.backend_host} port={self.backend_port} dbname={self.dbname}"
        text = "[databases]\n" + db + "\n\n[pgbouncer]\n" + "".join(f"{k} = {v}\n" for k, v in conf.items())
        tmp = self.ini.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(self.ini)

    def start(self, timeout_s: float = 15) -> None:
        binary = pgbouncer_binary()
        if binary is None:
            raise PgClusterError("pgbouncer not found (run `make system-deps`)")
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "userlist.txt").write_text(
            f'"{APP_USER}" "{APP_PASSWORD}"\n"{PGBOUNCER_ADMIN_USER}" "{PGBOUNCER_ADMIN_PASSWORD}"\n'
        )
        self._write_config()
        if os.geteuid() == 0:
            entry = pwd.getpwnam(PG_USER)
            for path in (self.dir, *self.dir.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        run_as_postgres([binary, "-d", "-q", str(self.ini)], timeout_s=timeout_s)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        raise PgClusterError(f"pgbouncer did not start listening on {self.port}: {self.log()[-2000:]}")

    def admin(self, command: str) -> list[tuple[object, ...]]:
        """Run an admin-console command (simple query protocol, hence psycopg2)."""
        import psycopg2  # the admin console speaks only the simple query protocol

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, dbname="pgbouncer", user=PGBOUNCER_ADMIN_USER,
                                password=PGBOUNCER_ADMIN_PASSWORD, connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(command)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def repoint(self, host: str, port: int) -> None:
        """Send new server connections to *host*:*port*; close the old ones as they are released."""
        self.backend_host, self.backend_port = host, port
        self._write_config()
        self.admin("RELOAD")
        self.admin("RECONNECT")

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def stop(self, timeout_s: float = 10) -> None:
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.logfile.read_text()
        except FileNotFoundError:
            return ""

    def conninfo(self, **extra: object) -> str:
        parts = {"host": "127.0.0.1", "port": self.port, "dbname": self.dbname, "user": APP_USER,
                 "password": APP_PASSWORD, **extra}
        return " ".join(f"{k}={v}" for k, v in parts.items())

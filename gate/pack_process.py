"""Start and stop the policy pack process the way the Pulumi CLI does.

The CLI's Python language host (``pulumi-language-python`` ``RunPlugin`` for an analyzer, and the older
``pulumi-analyzer-policy-python`` shim before it) starts a Python policy pack as

    <pack>/<virtualenv>/bin/python -u -m pulumi.policy <engine address> <pack directory>

with the pack directory as working directory, where ``<virtualenv>`` is ``runtime.options.virtualenv`` of
the pack's ``PulumiPolicy.yaml`` (``python3`` on ``PATH`` when the file names none).  ``pulumi.policy``
runs the pack's ``__main__.py``, which serves the analyzer protocol and prints its port on stdout.  The
language host also passes the stack's project, stack name, organization, dry-run flag and config as
``PULUMI_*`` variables.  :class:`PolicyPackProcess` does exactly that, so the gate exercises the pack's own
``requirements.txt`` (installed into its virtualenv by ``make policy-venv``) and its ``PulumiPolicy.yaml``.

There is no engine here: the engine address is a placeholder the pack never dials (``pulumi.policy`` only
parses it; a pack's log calls fall back to stderr, which :meth:`PolicyPackProcess.stderr_text` keeps).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PACK_DIR = REPO_ROOT / "policies"
#: What the pack receives as the engine address (see the module docstring).
NO_ENGINE_ADDRESS = "127.0.0.1:0"
#: How to build the pack's virtualenv, named in error messages.
BUILD_HINT = "run `make policy-venv` (python3 -m venv policies/venv; pip install -r policies/requirements.txt)"


class PolicyPackStartFailure(RuntimeError):
    """The policy pack did not start (no interpreter, import error, crash) or did not print its port in time."""


@dataclass(frozen=True)
class PackProject:
    """What ``PulumiPolicy.yaml`` says about how to run the pack."""

    directory: Path
    runtime: str
    virtualenv: str | None
    version: str | None
    description: str | None

    def interpreter(self) -> Path | str:
        """The Python the CLI would run the pack with: the pack's virtualenv, else ``python3`` on PATH."""
        if self.virtualenv:
            venv = Path(self.virtualenv)
            venv = venv if venv.is_absolute() else self.directory / venv
            python = venv / "bin" / "python"
            if not python.exists():
                raise PolicyPackStartFailure(
                    f'"{venv}" does not appear to be a virtual environment (PulumiPolicy.yaml names it as the '
                    f"pack's virtualenv); {BUILD_HINT}"
                )
            return python
        found = shutil.which("python3")
        if found is None:
            raise PolicyPackStartFailure("PulumiPolicy.yaml names no virtualenv and there is no python3 on PATH")
        return found


def read_pack_project(pack_dir: Path | str) -> PackProject:
    """Read ``<pack_dir>/PulumiPolicy.yaml``; raise :class:`PolicyPackStartFailure` naming what is wrong."""
    directory = Path(pack_dir).resolve()
    path = directory / "PulumiPolicy.yaml"
    try:
        data: Any = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PolicyPackStartFailure(f"no policy pack at {directory} (missing PulumiPolicy.yaml)") from None
    except yaml.YAMLError as exc:
        raise PolicyPackStartFailure(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyPackStartFailure(f"{path} must be a mapping with a 'runtime' key")
    runtime = data.get("runtime")
    options: Mapping[str, Any] = {}
    if isinstance(runtime, dict):
        options = runtime.get("options") or {}
        runtime = runtime.get("name")
    if runtime != "python":
        raise PolicyPackStartFailure(f"{path}: runtime must be python (this gate runs Python packs), got {runtime!r}")
    if not isinstance(options, dict):
        raise PolicyPackStartFailure(f"{path}: runtime.options must be a mapping")
    venv = options.get("virtualenv")
    version = data.get("version")
    description = data.get("description")
    return PackProject(
        directory=directory,
        runtime=runtime,
        virtualenv=str(venv) if venv else None,
        version=str(version) if version is not None else None,
        description=str(description) if description is not None else None,
    )


class PolicyPackProcess:
    """The pack as a child process (``python -m pulumi.policy``), stopped on exit from the ``with`` block.

    *python* overrides the interpreter the pack's ``PulumiPolicy.yaml`` selects (tests of start failures use
    it); *env* adds variables (the ``PULUMI_*`` stack context the CLI's language host sets).
    """

    def __init__(
        self,
        pack_dir: Path | str = DEFAULT_PACK_DIR,
        python: str | None = None,
        start_timeout_s: float = 60.0,
        env: Mapping[str, str] | None = None,
    ):
        self.pack_dir = Path(pack_dir).resolve()
        self.python = python
        self.start_timeout_s = start_timeout_s
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.project: PackProject | None = None
        self._stderr: IO[bytes] | None = None

    def command(self) -> list[str]:
        """The command line, as the CLI's language host builds it."""
        self.project = read_pack_project(self.pack_dir)
        if not (self.pack_dir / "__main__.py").exists():
            raise PolicyPackStartFailure(f"no policy pack at {self.pack_dir} (missing __main__.py)")
        python = self.python or str(self.project.interpreter())
        return [python, "-u", "-m", "pulumi.policy", NO_ENGINE_ADDRESS, str(self.pack_dir)]

    def start(self) -> int:
        command = self.command()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed in stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        # The shim unset PYTHONHOME and put the virtualenv first on PATH; our own venv must not leak in.
        env.pop("PYTHONHOME", None)
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        try:
            self.proc = subprocess.Popen(
                command,
                cwd=self.pack_dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
            )
        except OSError as exc:
            self.stop()
            raise PolicyPackStartFailure(f"cannot run {command[0]}: {exc}") from None
        line = self._read_port_line()
        try:
            self.port = int(line.strip())
        except ValueError:
            detail = self.stderr_text().strip()
            self.stop()
            raise PolicyPackStartFailure(
                f"the policy pack printed {line!r} instead of its port" + (f":\n{detail}" if detail else "")
            ) from None
        # Keep draining stdout so a chatty policy can never block on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self.port

    def _read_port_line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.start_timeout_s)
        if not result or not result[0]:
            if result:  # EOF: the pack exited (or closed stdout); let it finish to get its exit code
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
            code = self.proc.poll()
            detail = self.stderr_text().strip()
            self.stop()
            why = f"exited with code {code}" if code is not None else f"printed no port within {self.start_timeout_s:g} s"
            raise PolicyPackStartFailure(f"the policy pack {why}" + (f":\n{detail}" if detail else ""))
        return result[0].decode(errors="replace")

    def _drain(self) -> None:
        stream = self.proc.stdout if self.proc is not None else None
        if stream is None:
            return
        try:
            while stream.read(65536):
                pass
        except (OSError, ValueError):
            pass

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode(errors="replace")[-4000:]
        except (OSError, ValueError):
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

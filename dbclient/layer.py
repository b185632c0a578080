"""Build the Lambda layer that carries psycopg for the python3.11 runtime.

Lambda runs Amazon Linux on x86_64, not this machine, so the wheels are chosen
for that platform whatever the build host is::

    pip install --platform manylinux2014_x86_64 --only-binary=:all: \\
        --python-version 3.11 --target build/layer/python psycopg[binary] psycopg_pool

and zipped as ``build/lambda-layer.zip`` (a layer's ``python/`` directory is
on the runtime's ``sys.path``).  The versions are pinned to the ones installed
here, so what is tested is what is deployed.  The result is cached: a second
build with the same inputs returns the existing zip without running pip.  The
zip is deterministic (sorted entries, fixed timestamps), so an unchanged layer
does not make Pulumi publish a new layer version.

Run ``python -m dbclient.layer`` to build it and print its path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from dbclient.errors import LayerBuildFailed

__all__ = ["build_layer", "default_requirements", "layer_zip_path"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUILD_DIR = PROJECT_ROOT / "build"
PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.11"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def default_requirements() -> list[str]:
    """psycopg (binary) and psycopg_pool, pinned to the versions installed here."""
    return [
        f"psycopg[binary]=={metadata.version('psycopg')}",
        f"psycopg-pool=={metadata.version('psycopg-pool')}",
    ]


def layer_zip_path(build_dir: Path | None = None) -> Path:
    return (build_dir or DEFAULT_BUILD_DIR) / "lambda-layer.zip"


def _key(requirements: Sequence[str], platform: str, python_version: str) -> str:
    blob = json.dumps({"req": sorted(requirements), "platform": platform, "python": python_version}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_layer(
    build_dir: Path | None = None,
    *,
    requirements: Sequence[str] | None = None,
    platform: str = PLATFORM,
    python_version: str = PYTHON_VERSION,
    force: bool = False,
    timeout_s: float = 600,
) -> Path:
    """Build (or reuse) the layer zip and return its path.  Raises :class:`LayerBuildFailed`.

    Concurrent builds (parallel test workers, two checkouts' CI) serialize on a lock file.
    """
    build_dir = (build_dir or DEFAULT_BUILD_DIR).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    with (build_dir / "lambda-layer.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _build(build_dir, list(requirements or default_requirements()), platform, python_version, force, timeout_s)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(build_dir: Path, requirements: list[str], platform: str, python_version: str, force: bool, timeout_s: float) -> Path:
    key = _key(requirements, platform, python_version)
    layer_dir = build_dir / "layer"
    stamp = build_dir / "lambda-layer.key"
    zip_path = layer_zip_path(build_dir)
    if not force and zip_path.exists() and stamp.exists() and stamp.read_text().strip() == key:
        return zip_path

    shutil.rmtree(layer_dir, ignore_errors=True)
    zip_path.unlink(missing_ok=True)
    stamp.unlink(missing_ok=True)
    target = layer_dir / "python"
    target.mkdir(parents=True)
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--platform", platform, "--only-binary=:all:", "--implementation", "cp",
        "--python-version", python_version, "--target", str(target), *requirements,
    ]
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        raise LayerBuildFailed(f"pip did not finish within {timeout_s:.0f} s") from exc
    if result.returncode != 0:
        raise LayerBuildFailed(f"pip install for the layer failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    tmp = zip_path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in layer_dir.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts:
                continue
            info = zipfile.ZipInfo(str(path.relative_to(layer_dir)), date_time=_ZIP_DATE)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    tmp.replace(zip_path)
    stamp.write_text(key + "\n")
    return zip_path


if __name__ == "__main__":
    print(build_layer())

"""Start provider/ the way the Pulumi CLI does and ask it for its package schema over gRPC.

The CLI runs ``python provider <engine address>`` (the Python language host's RunPlugin) in the
consumer's working directory, reads the port the provider prints as its first stdout line, then
calls GetSchema to generate each language's SDK.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import grpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = ROOT / "provider"
STARTUP_DEADLINE_S = 90.0  # importing pulumi_aws on a busy 2-core machine
CALL_DEADLINE_S = 30.0


class ProviderStartError(RuntimeError):
    pass


def _read_port(process: subprocess.Popen[str]) -> int:
    """The provider's first stdout line, the port, within the startup deadline."""
    lines: list[str] = []
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(STARTUP_DEADLINE_S)
    if not lines or not re.fullmatch(r"\d+\n", lines[0]):
        process.kill()
        _, stderr = process.communicate(timeout=CALL_DEADLINE_S)
        raise ProviderStartError(f"the provider printed no port within {STARTUP_DEADLINE_S} s: {lines!r}\n{stderr}")
    return int(lines[0])


def provider_schema(consumer_dir: Path) -> dict[str, Any]:
    """The schema GetSchema returns from provider/ started in *consumer_dir*; the process is ended after."""
    process = subprocess.Popen(
        [sys.executable, str(PROVIDER_DIR), "127.0.0.1:1"],  # the engine address: GetSchema does not use it
        cwd=consumer_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _read_port(process)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=CALL_DEADLINE_S)
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            response = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=CALL_DEADLINE_S)
        schema: dict[str, Any] = json.loads(response.schema)
        return schema
    finally:
        process.kill()
        process.communicate(timeout=CALL_DEADLINE_S)

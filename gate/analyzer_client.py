"""A gRPC client of one running policy pack: the analyzer protocol calls, one method each.

``Handshake``, ``GetPluginInfo``, ``GetAnalyzerInfo``, ``ConfigureStack``, ``Configure``, ``Remediate``,
``Analyze`` and ``AnalyzeStack``.  Per-resource calls run concurrently (at most ``concurrency`` in flight),
as the engine runs them while resources register.  Every call has a deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2

from gate.pack_info import LEVEL_VALUES, PackInfo, pack_info
from gate.pack_process import NO_ENGINE_ADDRESS

#: Largest gRPC message (the AnalyzeStack request of a big stack); the CLI uses 400 MB too.
MAX_MESSAGE = 400 * 1024 * 1024
_CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)]
#: Deadlines per call kind.
CONNECT_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 30.0
RESOURCE_CALL_TIMEOUT_S = 120.0
STACK_CALL_TIMEOUT_S = 300.0

class AnalyzerClient:
    """A gRPC client of one running policy pack."""

    def __init__(self, port: int, *, concurrency: int = 8) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
        grpc.channel_ready_future(self.channel).result(timeout=CONNECT_TIMEOUT_S)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.concurrency = max(1, concurrency)
        self._info: PackInfo | None = None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> AnalyzerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handshake(self, pack_dir: Path | str) -> bool:
        """Call ``Handshake`` as the CLI does (root and program directory: the pack's directory).

        False when the pack does not implement it (pulumi_policy 1.x does not).
        """
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=NO_ENGINE_ADDRESS, root_directory=str(pack_dir), program_directory=str(pack_dir)
        )
        try:
            self.stub.Handshake(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                return False
            raise
        return True

    def plugin_version(self) -> str:
        response: plugin_pb2.PluginInfo = self.stub.GetPluginInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_S)
        return str(response.version)

    def info(self) -> PackInfo:
        if self._info is None:
            self._info = pack_info(self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_S))
        return self._info

    def pin_version(self, version: str | None) -> None:
        """Use the version of PulumiPolicy.yaml, as the CLI does (Python packs always report 0.0.1)."""
        if version:
            self._info = replace(self.info(), version=version)

    def configure_stack(self, request: analyzer_pb2.AnalyzerStackConfigureRequest) -> bool:
        """``ConfigureStack``; False when the pack does not implement it (the CLI then carries on too)."""
        try:
            self.stub.ConfigureStack(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                return False
            raise
        return True

    def configure(self, resolved: Mapping[str, Mapping[str, Any]]) -> None:
        """``Configure`` with resolved policy settings (see :func:`gate.policy_config.resolve_config`)."""
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, entry in resolved.items():
            cfg = request.policyConfig[name]
            cfg.enforcementLevel = LEVEL_VALUES[str(entry.get("enforcementLevel", "advisory"))]
            props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            if props:
                cfg.properties.update(props)
        self.stub.Configure(request, timeout=CALL_TIMEOUT_S)

    def _each(self, method: Any, requests: Sequence[Any]) -> list[Any]:
        """Call a unary *method* for every request, at most ``concurrency`` in flight; results in order."""
        semaphore = threading.BoundedSemaphore(self.concurrency)
        pending = []
        for request in requests:
            semaphore.acquire()
            future = method.future(request, timeout=RESOURCE_CALL_TIMEOUT_S)
            future.add_done_callback(lambda _f: semaphore.release())
            pending.append(future)
        return [future.result() for future in pending]

    def remediate(self, requests: Sequence[analyzer_pb2.AnalyzeRequest]) -> list[analyzer_pb2.RemediateResponse]:
        """``Remediate`` every resource (the engine calls it before ``Analyze``); responses in request order."""
        return self._each(self.stub.Remediate, requests)

    def analyze(
        self, requests: Sequence[analyzer_pb2.AnalyzeRequest]
    ) -> list[tuple[analyzer_pb2.AnalyzeRequest, analyzer_pb2.AnalyzeResponse]]:
        """``Analyze`` every request; (request, response) pairs in request order."""
        return list(zip(requests, self._each(self.stub.Analyze, requests), strict=True))

    def analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest) -> analyzer_pb2.AnalyzeResponse:
        return self.stub.AnalyzeStack(request, timeout=STACK_CALL_TIMEOUT_S)

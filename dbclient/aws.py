"""AWS calls that cannot outlive the caller's deadline.

botocore's defaults (60 s connect and read timeouts, up to 5 attempts with
backoff) hold an unreachable Secrets Manager endpoint for minutes.  Here every
call gets connect and read timeouts, botocore's own retries are off, and
:class:`AwsCaller` retries transient failures itself, shrinking each attempt's
timeouts to the time left before the deadline in force (:mod:`dbclient.deadline`).
The STS calls that botocore's credential providers make (assumed roles, web
identity) inherit the same timeouts through the session's default client config.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dbclient.deadline import remaining_s
from dbclient.errors import CredentialsUnavailable

__all__ = ["DEFAULT_AWS_TIMEOUTS", "AwsCaller", "AwsTimeouts"]

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: An attempt with less time than this left is not started.
MIN_ATTEMPT_S = 0.05
#: Time an attempt spends besides waiting on the socket (signing, building the request, parsing).
ATTEMPT_OVERHEAD_S = 0.1
#: Throttling and server-side errors worth another attempt (other API errors are final).
_RETRYABLE_CODES = frozenset({
    "InternalServiceError", "InternalFailure", "ServiceUnavailable", "ThrottlingException", "Throttling",
    "RequestTimeout", "RequestTimeoutException", "TooManyRequestsException", "RequestLimitExceeded",
})


@dataclass(frozen=True)
class AwsTimeouts:
    """Per-attempt connect and read timeouts and the number of attempts of one AWS call, without a deadline.

    Under a deadline the timeouts shrink to fit the time left, and no attempt starts past it.
    """

    connect_timeout_s: float = 1.0
    read_timeout_s: float = 2.0
    max_attempts: int = 3
    #: Full-jitter backoff between attempts: ``uniform(0, min(backoff_cap_s, backoff_base_s * 2**n))``.
    backoff_base_s: float = 0.1
    backoff_cap_s: float = 1.0

    def __post_init__(self) -> None:
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError("AWS connect and read timeouts must be positive")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")

    def within(self, remaining: float | None) -> tuple[float, float]:
        """(connect, read) timeouts for an attempt with *remaining* seconds left (None: no deadline).

        Rounded down to 50 ms steps, so that clients can be reused across calls.
        """
        connect, read = self.connect_timeout_s, self.read_timeout_s
        if remaining is not None and remaining < connect + read:
            share = remaining / (connect + read)
            connect, read = connect * share, read * share
        return max(MIN_ATTEMPT_S, _floor(connect)), max(MIN_ATTEMPT_S, _floor(read))


#: What the password providers use unless told otherwise: at most about 9 s without a deadline.
DEFAULT_AWS_TIMEOUTS = AwsTimeouts()


def _floor(seconds: float) -> float:
    return int(seconds * 20) / 20


class AwsCaller:
    """Makes the calls of one AWS service with bounded time; a password provider holds one.

    *client*: a ready client (tests, or a caller who configured one); its timeouts are
    the caller's business, but attempts and backoff are still bounded here.  Otherwise a
    botocore client is made (and kept, per timeout pair) for *service*, *region* and
    *endpoint_url* (None: the standard endpoint, or ``AWS_ENDPOINT_URL_<SERVICE>``).
    """

    def __init__(
        self,
        service: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any | None = None,
        timeouts: AwsTimeouts = DEFAULT_AWS_TIMEOUTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service, self.region, self.endpoint_url = service, region, endpoint_url
        self.timeouts = timeouts
        self._client = client
        self._sleep = sleep
        self._session: Any = None
        self._clients: dict[tuple[float, float], Any] = {}
        self._make_s = 0.0  #: how long making the last client took
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AwsCaller(service={self.service!r}, region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    def call(self, what: str, operation: Callable[[Any], T]) -> T:
        """``operation(client)``, retried on transient failures, within the deadline in force.

        Raises :class:`CredentialsUnavailable` saying *what* failed and why (error type or
        AWS error code, attempts, time spent), never with the response's content.
        """
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        started = time.monotonic()
        attempt = 0
        reason = "no time left in the deadline"
        while True:
            try:
                client = self._client_for_time_left()
            except _NoTimeLeft:
                if attempt:
                    reason += ", then no time left for another attempt"
                raise CredentialsUnavailable(f"{what}: {reason}" + _tries(attempt, started)) from None
            attempt += 1
            try:
                return operation(client)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
                if code not in _RETRYABLE_CODES:
                    raise CredentialsUnavailable(f"{what}: {code}" + _tries(attempt, started)) from None
                reason = code
            except (ConnectionError, HTTPClientError) as exc:  # timeouts, refused, reset, DNS
                reason = type(exc).__name__
            except CredentialsUnavailable:
                raise
            except Exception as exc:  # NoCredentialsError, a bad parameter, ...: not transient
                raise CredentialsUnavailable(f"{what}: {type(exc).__name__}" + _tries(attempt, started)) from None
            delay = random.uniform(0.0, min(self.timeouts.backoff_cap_s, self.timeouts.backoff_base_s * 2 ** (attempt - 1)))
            left = remaining_s()
            if attempt >= self.timeouts.max_attempts or (left is not None and left - delay < MIN_ATTEMPT_S + ATTEMPT_OVERHEAD_S):
                raise CredentialsUnavailable(f"{what}: {reason}" + _tries(attempt, started)) from None
            self._sleep(delay)

    def warm_up(self) -> None:
        """Load botocore and the service's model now (a few hundred ms; no AWS request), e.g. at a Lambda's cold start.

        Best effort: a failure here is left for the first call to report.
        """
        with self._lock:
            if self._client is None and self._session is None:
                try:
                    defaults = (self.timeouts.connect_timeout_s, self.timeouts.read_timeout_s)
                    self._clients[defaults] = self._make_client(*defaults)
                except Exception as exc:
                    logger.warning("could not prepare the %s client: %s", self.service, type(exc).__name__)

    def _client_for_time_left(self) -> Any:
        """A client whose connect + read timeouts fit in the time left (measured after any set-up)."""
        with self._lock:
            if self._client is None and self._session is None:
                # The first client loads botocore's models (a few hundred ms): before the time left is measured.
                defaults = (self.timeouts.connect_timeout_s, self.timeouts.read_timeout_s)
                self._clients[defaults] = self._make_client(*defaults)
            for _ in range(3):  # making a client takes time too: check again that its timeouts still fit
                remaining = remaining_s()
                if remaining is not None and remaining < MIN_ATTEMPT_S + ATTEMPT_OVERHEAD_S:
                    raise _NoTimeLeft
                if self._client is not None:
                    return self._client
                budget = None if remaining is None else remaining - ATTEMPT_OVERHEAD_S
                wanted = self.timeouts.within(budget)
                # A client made earlier whose timeouts fit, and are not much shorter than wanted, will do.
                fitting = [pair for pair in self._clients
                           if pair == wanted or (budget is not None and 0.8 * sum(wanted) <= sum(pair) <= budget)]
                if fitting:
                    pair = max(fitting, key=sum)
                    # Clients that the credential providers create (STS for assumed roles) take these timeouts too.
                    self._session.set_default_client_config(_config(*pair))
                    return self._clients[pair]
                # Leave room for making the client (measured the last time) before the attempt starts.
                if budget is not None:
                    wanted = self.timeouts.within(budget - self._make_s)
                made = time.monotonic()
                self._clients[wanted] = self._make_client(*wanted)
                self._make_s = time.monotonic() - made
            raise _NoTimeLeft

    def _make_client(self, connect: float, read: float) -> Any:
        import botocore.session

        if self._session is None:
            session = botocore.session.Session()
            # Instance/container metadata (credentials outside Lambda): one short try, not botocore's defaults.
            session.set_config_variable("metadata_service_timeout", min(1.0, connect + read))
            session.set_config_variable("metadata_service_num_attempts", 1)
            self._session = session
        return self._session.create_client(self.service, region_name=self.region, endpoint_url=self.endpoint_url,
                                           config=_config(connect, read))


class _NoTimeLeft(Exception):
    pass


def _config(connect: float, read: float) -> Any:
    from botocore.config import Config

    return Config(connect_timeout=connect, read_timeout=read, retries={"total_max_attempts": 1})


def _tries(attempts: int, started: float) -> str:
    return f" (after {attempts} attempt{'s' if attempts != 1 else ''}, {time.monotonic() - started:.2f} s)"

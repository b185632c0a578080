"""Password providers: IAM auth tokens and Secrets Manager secrets, as callables.

Both are used as ``ConnectionSettings(password=provider)``: the provider is
called for every new connection and answers from its cache, so opening a
connection costs no AWS call in the common case.  Both have ``refresh()``, which
:func:`dbclient.retry.run_transaction` calls once after the server rejects a
login (``credentials=provider``), so a rotated secret or an expired token costs
one retry instead of an outage.

Every AWS call they make is bounded (:mod:`dbclient.aws`): connect and read
timeouts, a few attempts, and never past the deadline in force
(:mod:`dbclient.deadline`; :func:`dbclient.retry.run_transaction` sets it).  A
failure raises :class:`~dbclient.errors.CredentialsUnavailable` with the reason.

Neither ever shows the secret in ``repr``, logs or exception messages.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from dbclient.aws import DEFAULT_AWS_TIMEOUTS, AwsCaller, AwsTimeouts
from dbclient.errors import CredentialsUnavailable

__all__ = ["IamTokenProvider", "SecretsManagerProvider"]

logger = logging.getLogger(__name__)

#: RDS IAM auth tokens are valid for 15 minutes.
IAM_TOKEN_LIFETIME_S = 15 * 60


class IamTokenProvider:
    """``rds.generate_db_auth_token`` for *host* (the RDS Proxy endpoint), cached.

    A token is valid for 15 minutes; it is only checked when a connection is
    opened, so an open connection outlives it.  The cached token is replaced
    ``renew_margin_s`` before it expires (default 5 minutes), so a token handed out
    is always good for longer than any connect takes.  Generating a token is a local
    signature with the caller's AWS credentials (no network call once they are
    resolved; resolving them may call STS or a metadata service, bounded like every
    AWS call here); the role needs ``rds-db:connect`` on the proxy's ``dbuser`` ARN.

    *client* is an RDS client (made from *region* when omitted, on first use); *clock*
    returns seconds (``time.monotonic`` by default) and is injectable for tests.
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        region: str | None = None,
        *,
        client: Any | None = None,
        renew_margin_s: float = 5 * 60,
        clock: Callable[[], float] = time.monotonic,
        timeouts: AwsTimeouts = DEFAULT_AWS_TIMEOUTS,
    ) -> None:
        if not 0 <= renew_margin_s < IAM_TOKEN_LIFETIME_S:
            raise ValueError(f"renew_margin_s must be in [0, {IAM_TOKEN_LIFETIME_S}), got {renew_margin_s}")
        self.host, self.port, self.user, self.region = host, port, user, region
        self._aws = AwsCaller("rds", region=region, client=client, timeouts=timeouts)
        self._renew_margin = renew_margin_s
        self._clock = clock
        self._token: str | None = None
        self._issued_at = 0.0
        self._lock = threading.Lock()
        self.generated = 0  #: tokens generated so far

    def __repr__(self) -> str:
        return f"IamTokenProvider(host={self.host!r}, port={self.port}, user={self.user!r}, region={self.region!r})"

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() - self._issued_at < IAM_TOKEN_LIFETIME_S - self._renew_margin

    def __call__(self) -> str:
        with self._lock:
            if not self._fresh():
                self._generate()
            assert self._token is not None
            return self._token

    def warm_up(self) -> None:
        """Prepare the AWS client now (no AWS call), so the first token costs no set-up time."""
        self._aws.warm_up()

    def refresh(self) -> str:
        """Generate a new token now (after the server rejected one)."""
        with self._lock:
            self._generate()
            assert self._token is not None
            return self._token

    def _generate(self) -> None:
        issued_at = self._clock()
        kwargs: dict[str, Any] = {"DBHostname": self.host, "Port": self.port, "DBUsername": self.user}
        if self.region:
            kwargs["Region"] = self.region
        token = self._aws.call(
            f"cannot generate an IAM auth token for {self.user}@{self.host}:{self.port}",
            lambda client: client.generate_db_auth_token(**kwargs),
        )
        self._token, self._issued_at = str(token), issued_at
        self.generated += 1
        logger.debug("generated an IAM auth token for %s@%s:%s", self.user, self.host, self.port)


class SecretsManagerProvider:
    """The password in a Secrets Manager secret, cached.

    The secret is either a JSON object (the shape RDS and its rotation functions
    write: ``{"username": ..., "password": ...}``; *field* picks the key) or a plain
    string.  It is read once and cached for *ttl_s* (None: until :meth:`refresh`).
    *endpoint_url* overrides the service endpoint (botocore also reads
    ``AWS_ENDPOINT_URL_SECRETS_MANAGER``); *client* replaces the one made here.
    :meth:`refresh` re-reads it, but at most once per *min_refresh_interval_s*, so a
    burst of failed logins during a rotation makes one API call, not hundreds.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any | None = None,
        field: str = "password",
        ttl_s: float | None = 3600.0,
        min_refresh_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        timeouts: AwsTimeouts = DEFAULT_AWS_TIMEOUTS,
    ) -> None:
        self.secret_id = secret_id
        self.field = field
        self._aws = AwsCaller("secretsmanager", region=region, endpoint_url=endpoint_url, client=client, timeouts=timeouts)
        self._ttl = ttl_s
        self._min_refresh = min_refresh_interval_s
        self._clock = clock
        self._value: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0  #: GetSecretValue calls so far

    def __repr__(self) -> str:
        return f"SecretsManagerProvider(secret_id={self.secret_id!r}, field={self.field!r})"

    def __call__(self) -> str:
        with self._lock:
            if self._value is None or (self._ttl is not None and self._clock() - self._fetched_at >= self._ttl):
                self._fetch()
            return self._password()

    @property
    def username(self) -> str | None:
        """The secret's ``username``, if it has one (fetches the secret if needed)."""
        with self._lock:
            if self._value is None:
                self._fetch()
            assert self._value is not None
            user = self._value.get("username")
            return str(user) if user is not None else None

    def warm_up(self) -> None:
        """Prepare the AWS client now (no AWS call), so the first read costs no set-up time."""
        self._aws.warm_up()

    def refresh(self) -> str:
        """Re-read the secret (after an auth failure); rate-limited by *min_refresh_interval_s*."""
        with self._lock:
            if self._value is None or self._clock() - self._fetched_at >= self._min_refresh:
                self._fetch()
            return self._password()

    def _password(self) -> str:
        assert self._value is not None
        value = self._value.get(self.field)
        if not isinstance(value, str):
            raise CredentialsUnavailable(f"secret {self.secret_id!r} has no string field {self.field!r}")
        return value

    def _fetch(self) -> None:
        fetched_at = self._clock()
        response = self._aws.call(f"cannot read secret {self.secret_id!r}",
                                  lambda client: client.get_secret_value(SecretId=self.secret_id))
        self.fetches += 1
        raw = response.get("SecretString")
        if raw is None:
            raise CredentialsUnavailable(f"secret {self.secret_id!r} has no SecretString")
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        self._value = parsed if isinstance(parsed, dict) else {self.field: raw}
        self._fetched_at = fetched_at
        logger.info("read secret %s (version %s)", self.secret_id, response.get("VersionId", "?"))

"""Every exception dbclient raises, under one base: ``except dbclient.Error`` catches them all.

Errors about the database connection also keep their psycopg base
(:class:`psycopg.OperationalError`), so code written for psycopg, and
:func:`dbclient.retry.classify`, treat them as connection failures.
"""

from __future__ import annotations

import psycopg

__all__ = [
    "BadRequest",
    "CommitOutcomeUnknown",
    "CredentialsUnavailable",
    "EndpointMoved",
    "Error",
    "LayerBuildFailed",
    "LoginRejected",
    "MissingSetting",
    "OperationTimeout",
    "PsycopgIncompatible",
    "RetriesExhausted",
]


class Error(Exception):
    """Base class of every exception raised by dbclient."""


class MissingSetting(Error, ValueError):
    """A required setting is missing from the environment, or one that is there is invalid."""


class OperationTimeout(psycopg.OperationalError, Error):
    """The server did not answer within the client-side deadline; the connection has been closed.

    It has no SQLSTATE: :func:`dbclient.retry.classify` treats it as a lost connection.
    """


class EndpointMoved(psycopg.OperationalError, Error):
    """A pending connect was abandoned: the host name now resolves to other addresses (a failover moved it).

    Like a refused connect, :func:`dbclient.retry.classify` treats it as a lost
    connection; :func:`dbclient.retry.run_transaction` retries it without backoff,
    on a fresh resolution that reaches the new address.
    """


class LoginRejected(psycopg.OperationalError, Error):
    """The server rejected the login after the password exchange (wrong or expired password or token).

    libpq reports no SQLSTATE for errors raised while a connection is being
    established, so the auth failures 28P01 / 28000 cannot be told from a
    refused TCP connection by code.  What libpq does record is whether the server
    asked for a password (``PQconnectionUsedPassword``): a connection that failed
    after the password was sent was refused by the server's authentication or
    authorization (wrong or expired password or IAM token, role not allowed,
    unknown database), not by the network.  :func:`dbclient.retry.classify`
    maps this to ``ErrorClass.AUTH``: refresh the credentials once, then give up.
    """


class CommitOutcomeUnknown(psycopg.OperationalError, Error):
    """The connection was lost after COMMIT was sent: the transaction may or may not have committed.

    Raised when no idempotency key was given (check the data, or retry with a key),
    or when the key could not be looked up before the deadline.
    """


class RetriesExhausted(psycopg.OperationalError, Error):
    """Neither attempts nor time are left; ``last`` (and ``__cause__``) is the last failure."""

    def __init__(self, message: str, *, attempts: int, last: BaseException) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last = last


class CredentialsUnavailable(Error, RuntimeError):
    """The password or IAM token could not be obtained; the message says why, never the secret."""


class BadRequest(Error, ValueError):
    """A Lambda event does not carry a usable order id (the handler answers 400)."""


class LayerBuildFailed(Error, RuntimeError):
    """pip could not produce the Lambda layer (no network, no matching wheel, ...)."""


class PsycopgIncompatible(Error, ImportError):
    """The installed psycopg lacks an internal that dbclient relies on (see :mod:`dbclient._compat`)."""

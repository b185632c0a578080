"""dbclient: the application side of resilient-rds, on psycopg 3.

* :mod:`dbclient.errors`: every exception the library raises, under :class:`dbclient.Error`.
* :mod:`dbclient.connect`: connection settings tuned for failover, and connections
  with a client-side deadline on every operation.
* :mod:`dbclient.retry`: :func:`~dbclient.retry.run_transaction`, which retries a
  transaction only when it is safe, and :func:`~dbclient.retry.run_read`.
* :mod:`dbclient.credentials`: IAM auth tokens and Secrets Manager passwords.
* :mod:`dbclient.pool`: a ``psycopg_pool.ConnectionPool`` sized from the connection budget.
* :mod:`dbclient.lambda_handler`: the order lookup Lambda.
"""

from dbclient.connect import ConnectionSettings, connect
from dbclient.errors import (
    BadRequest,
    CommitOutcomeUnknown,
    CredentialsUnavailable,
    EndpointMoved,
    Error,
    LayerBuildFailed,
    LoginRejected,
    MissingSetting,
    OperationTimeout,
    PsycopgIncompatible,
    RetriesExhausted,
)
from dbclient.retry import (
    Backoff,
    ErrorClass,
    SingleConnection,
    classify,
    run_read,
    run_transaction,
)

__all__ = [
    "Backoff",
    "BadRequest",
    "CommitOutcomeUnknown",
    "ConnectionSettings",
    "CredentialsUnavailable",
    "EndpointMoved",
    "Error",
    "ErrorClass",
    "LayerBuildFailed",
    "LoginRejected",
    "MissingSetting",
    "OperationTimeout",
    "PsycopgIncompatible",
    "RetriesExhausted",
    "SingleConnection",
    "classify",
    "connect",
    "run_read",
    "run_transaction",
]

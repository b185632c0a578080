"""The seed's Step 4 retry logic, verbatim, and the minimal harness the failover drill drives it with.

Everything between the two ``SEED STEP 4`` markers is copied character for
character from the scenario (``../shared/seed/scenario.txt`` beside the repository, "Step 4:
Connection Retry Logic"),
so the drill measures the code the scenario recommends, defects included
(string-matched error classification, 1-2-4-8-16 s backoff without jitter, a
retried ``execute`` whose COMMIT may already have happened, no client-side
timeout).  tests/bench checks that the block still matches the scenario.
"""
# ruff: noqa: I001  (the seed's import order is kept as written)

# ---- SEED STEP 4 BEGIN (verbatim) ----
import psycopg2
from psycopg2 import OperationalError
import time
import logging
from functools import wraps

logger = logging.getLogger(__name__)

def with_retry(max_attempts=3, backoff_factor=2):
    """Decorator for database operations with retry logic."""
    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            last_exception = None

            for attempt in range(max_attempts):
                try:
                    return func(*args, **kwargs)
                except OperationalError as e:
                    last_exception = e
                    error_msg = str(e).lower()

                    # Retryable errors
                    retryable = any([
                        'connection refused' in error_msg,
                        'connection reset' in error_msg,
                        'connection timed out' in error_msg,
                        'server closed the connection' in error_msg,
                        'ssl connection has been closed' in error_msg,
                    ])

                    if not retryable:
                        raise

                    wait_time = backoff_factor ** attempt
                    logger.warning(
                        f"Database connection error (attempt {attempt + 1}/{max_attempts}). "
                        f"Retrying in {wait_time}s: {e}"
                    )
                    time.sleep(wait_time)

            raise last_exception

        return wrapper
    return decorator

class DatabaseConnection:
    """Connection wrapper with automatic reconnection."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._connection = None

    @property
    def connection(self):
        if self._connection is None or self._connection.closed:
            self._connection = self._create_connection()
        return self._connection

    @with_retry(max_attempts=5, backoff_factor=2)
    def _create_connection(self):
        return psycopg2.connect(
            self.dsn,
            connect_timeout=5,
            options='-c statement_timeout=30000'
        )

    @with_retry(max_attempts=3)
    def execute(self, query: str, params=None):
        with self.connection.cursor() as cursor:
            cursor.execute(query, params)
            if cursor.description:
                return cursor.fetchall()
            self.connection.commit()
            return cursor.rowcount

    def close(self):
        if self._connection:
            self._connection.close()
# ---- SEED STEP 4 END ----


# ---- harness (not part of the seed) ----

import contextlib  # noqa: E402

SEED_BEGIN = "# ---- SEED STEP 4 BEGIN (verbatim) ----\n"
SEED_END = "# ---- SEED STEP 4 END ----\n"

INSERT_WRITE = "INSERT INTO writes (client, seq, client_ts) VALUES (%s, %s, %s)"


class SeedWriter:
    """One client of the drill: ``DatabaseConnection.execute`` of an INSERT, as the seed would call it."""

    def __init__(self, dsn: str, name: str) -> None:
        self.name = name
        self.db = DatabaseConnection(dsn)

    def write(self, seq: int, client_ts: float) -> None:
        self.db.execute(INSERT_WRITE, (self.name, seq, client_ts))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()


def verbatim_block() -> str:
    """The seed code as stored in this file (for the verbatim check)."""
    with open(__file__) as handle:
        text = handle.read()
    return text.split(SEED_BEGIN, 1)[1].split(SEED_END, 1)[0]

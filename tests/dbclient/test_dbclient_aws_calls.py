"""dbclient.aws: every AWS call bounded in attempts and time, whatever the client does (no network)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from dbclient.aws import AwsCaller, AwsTimeouts
from dbclient.deadline import connect_deadline
from dbclient.errors import CredentialsUnavailable


class FlakyClient:
    """Raises the given errors in turn, then answers."""

    def __init__(self, *errors: Exception, answer: Any = "ok", delay_s: float = 0.0) -> None:
        self.errors = list(errors)
        self.answer = answer
        self.delay_s = delay_s
        self.calls = 0

    def op(self) -> Any:
        self.calls += 1
        time.sleep(self.delay_s)
        if self.errors:
            raise self.errors.pop(0)
        return self.answer


def denied(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "secret-looking message"}}, "GetSecretValue")


def test_transient_failures_are_retried_up_to_max_attempts() -> None:
    client = FlakyClient(EndpointConnectionError(endpoint_url="http://x"), denied("ThrottlingException"))
    caller = AwsCaller("secretsmanager", client=client, timeouts=AwsTimeouts(max_attempts=3, backoff_base_s=0.001))
    assert caller.call("read", lambda c: c.op()) == "ok" and client.calls == 3
    client = FlakyClient(*[ReadTimeoutError(endpoint_url="http://x")] * 5)
    caller = AwsCaller("secretsmanager", client=client, timeouts=AwsTimeouts(max_attempts=3, backoff_base_s=0.001))
    with pytest.raises(CredentialsUnavailable, match=r"read: ReadTimeoutError \(after 3 attempts"):
        caller.call("read", lambda c: c.op())
    assert client.calls == 3


@pytest.mark.parametrize("error", [denied("AccessDeniedException"), denied("ResourceNotFoundException"), NoCredentialsError()])
def test_final_failures_are_not_retried_and_say_why_without_the_message(error: Exception) -> None:
    client = FlakyClient(error)
    with pytest.raises(CredentialsUnavailable) as info:
        AwsCaller("secretsmanager", client=client).call("cannot read secret 'db'", lambda c: c.op())
    assert client.calls == 1
    assert str(info.value).startswith("cannot read secret 'db': ")
    assert "secret-looking message" not in str(info.value) and info.value.__cause__ is None


def test_no_attempt_starts_past_the_deadline() -> None:
    client = FlakyClient(*[EndpointConnectionError(endpoint_url="http://x")] * 100, delay_s=0.05)
    caller = AwsCaller("secretsmanager", client=client, timeouts=AwsTimeouts(max_attempts=100, backoff_base_s=0.01,
                                                                                backoff_cap_s=0.02))
    started = time.monotonic()
    with connect_deadline(started + 0.5), pytest.raises(CredentialsUnavailable, match="EndpointConnectionError|no time left"):
        caller.call("read", lambda c: c.op())
    assert time.monotonic() - started < 0.5 + 0.1
    assert 2 < client.calls < 100


def test_timeouts_shrink_to_fit_the_time_left() -> None:
    timeouts = AwsTimeouts(connect_timeout_s=1.0, read_timeout_s=2.0)
    assert timeouts.within(None) == (1.0, 2.0)
    assert timeouts.within(10.0) == (1.0, 2.0)
    connect, read = timeouts.within(0.9)
    assert connect + read <= 0.9 and (connect, read) == (0.3, 0.6)
    assert timeouts.within(0.0) == (0.05, 0.05)  # never zero (botocore would wait forever)
    with pytest.raises(ValueError, match="max_attempts"):
        AwsTimeouts(max_attempts=0)


def test_a_made_client_carries_the_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    caller = AwsCaller("secretsmanager", region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    seen: list[Any] = []
    caller.warm_up()  # loading botocore's models is set-up, not part of any call's time
    # 2 s: below the defaults' 3 s, so they must shrink; room for making the client on a busy machine.
    with connect_deadline(time.monotonic() + 2.0):
        caller.call("read", lambda client: seen.append(client.meta.config))
    config = seen[0]
    assert config.connect_timeout + config.read_timeout <= 2.0
    assert config.retries["total_max_attempts"] == 1  # the attempts are counted here, against the deadline
    caller.call("read", lambda client: seen.append(client.meta.config))
    assert (seen[1].connect_timeout, seen[1].read_timeout) == (1.0, 2.0)  # without a deadline: the defaults

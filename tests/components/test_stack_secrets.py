"""Credentials: the password is secret everywhere and never leaks into plain inputs or outputs."""

from __future__ import annotations

import json

from stack_helpers import named, only, plain_strings, walk

from components.credentials import PASSWORD_SPECIAL_CHARACTERS
from gate.program import ProgramRun, Secret


def test_password_generation_avoids_characters_rds_rejects(run: ProgramRun) -> None:
    password = only(run, "random:index/randomPassword:RandomPassword").inputs
    assert password["length"] >= 32
    assert password["special"] is True
    assert password["overrideSpecial"] == PASSWORD_SPECIAL_CHARACTERS
    for rejected in '/@" ':
        assert rejected not in password["overrideSpecial"]


def test_secret_uses_the_customer_key(run: ProgramRun) -> None:
    secret = named(run, "credentials-secret")
    assert secret.property_dependencies["kmsKeyId"] == [named(run, "credentials-kms-key").urn]
    assert secret.inputs["name"].startswith("rds/orders-")


def test_secret_version_is_secret_and_has_the_keys_rds_proxy_reads(known_run: ProgramRun) -> None:
    version = named(known_run, "credentials-secret-version")
    value = version.inputs["secretString"]
    assert isinstance(value, Secret)
    body = json.loads(value.value)
    assert set(body) == {"username", "password", "engine", "host", "port", "dbname"}
    assert body["username"] == "orders_admin" and body["engine"] == "postgres" and body["port"] == 5432
    assert body["host"] == named(known_run, "database-primary").outputs["address"]
    assert body["password"] == only(known_run, "random:index/randomPassword:RandomPassword").outputs["result"]


def test_password_never_appears_in_plain_inputs_or_outputs(known_run: ProgramRun) -> None:
    password = only(known_run, "random:index/randomPassword:RandomPassword").outputs["result"]
    assert isinstance(password, str) and len(password) >= 32
    for resource in known_run.resources:
        for text in plain_strings(resource.inputs):
            assert password not in text, f"password in plain input of {resource.name}"
    for key, value in known_run.outputs.items():
        for text in plain_strings(value):
            assert password not in text, f"password in stack output {key}"
    # Where it does travel, it is wrapped as a secret.
    primary = named(known_run, "database-primary").inputs["password"]
    assert isinstance(primary, Secret) and primary.value == password
    assert "password" not in {k.lower() for k in known_run.outputs}
    assert known_run.secret_outputs == set()


def test_secret_values_are_marked_secret_on_the_wire(run: ProgramRun) -> None:
    for resource in run.resources:
        for key in ("password", "secretString"):
            if key in resource.inputs:
                assert isinstance(resource.inputs[key], Secret), f"{resource.name}.{key}"
                assert repr(resource.inputs[key]) == "[secret]"
    assert any(isinstance(leaf, Secret) for r in run.resources for leaf in walk(r.inputs))

"""Which policy config a stack is gated with.

In order:

1. an explicit file: ``--policy-config PATH`` or the ``POLICY_CONFIG`` environment variable
   (``make preview STACK=x POLICY_CONFIG=path``);
2. the pack's config for the stack, ``policies/config/<stack>.json``, when it exists;
3. otherwise the levels of the stack's ``environment`` (``resilient-rds:environment`` in
   ``Pulumi.<stack>.yaml``, read and validated by :func:`components.config.load_config`, the program's own
   loader): ``dev`` levels for ``dev``, ``prod`` levels for ``staging`` and ``prod`` (a staging stack
   rehearses production, so it is held to production's levels).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.program import read_project_name, read_stack_config

#: Environment variable naming a policy config file (the Makefile passes it on).
POLICY_CONFIG_ENV = "POLICY_CONFIG"
#: ``environment`` -> the pack config whose levels it gets.
LEVELS_FOR_ENVIRONMENT = {"dev": "dev", "staging": "prod", "prod": "prod"}


@dataclass(frozen=True)
class PolicyConfigChoice:
    path: Path
    #: "option", "env", "stack" or "environment": why this file was chosen.
    source: str
    reason: str


class NoPolicyConfig(ValueError):
    """No policy config could be chosen for the stack; the message says what to pass."""


def choose_policy_config(
    project_dir: Path,
    stack: str,
    pack_dir: Path,
    explicit: Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> PolicyConfigChoice:
    """Pick the policy config for *stack* of the project in *project_dir* (see the module docstring).

    Raises :class:`NoPolicyConfig` when there is none to pick, and the program's
    :class:`components.config.ConfigError` when the stack's config is invalid.
    """
    if explicit is not None:
        return PolicyConfigChoice(explicit, "option", f"--policy-config {explicit}")
    from_env = environ.get(POLICY_CONFIG_ENV, "").strip()
    if from_env:
        path = Path(from_env)
        return PolicyConfigChoice(path, "env", f"{POLICY_CONFIG_ENV}={path}")
    own = pack_dir / "config" / f"{stack}.json"
    if own.exists():
        return PolicyConfigChoice(own, "stack", f"the pack's config for stack {stack!r}")
    from components.config import NAMESPACE

    hint = f"pass --policy-config or set {POLICY_CONFIG_ENV}"
    project = read_project_name(project_dir)
    if project != NAMESPACE:
        raise NoPolicyConfig(
            f"no policy config for stack {stack!r} ({own} does not exist) and project {project!r} has no "
            f"{NAMESPACE}:environment to take levels from; {hint}"
        )
    try:
        stack_config = read_stack_config(project_dir, stack)
    except FileNotFoundError as exc:
        raise NoPolicyConfig(f"no policy config for stack {stack!r} ({own} does not exist) and {exc}; {hint}") from None
    environment = stack_environment(stack, stack_config)
    levels = LEVELS_FOR_ENVIRONMENT.get(environment)
    if levels is None:
        raise NoPolicyConfig(
            f"no policy config for stack {stack!r} ({own} does not exist) and no levels for its environment "
            f"{environment!r}; {hint}"
        )
    path = pack_dir / "config" / f"{levels}.json"
    return PolicyConfigChoice(
        path, "environment", f"no {own.name}: {levels} levels for the stack's environment {environment!r}"
    )


def stack_environment(stack: str, stack_config: Mapping[str, Any]) -> str:
    """The stack's validated ``environment``, read by the program's own config loader.

    Raises :class:`components.config.ConfigError` (every problem of the stack config) when it is invalid,
    as the program itself would.
    """
    from components.config import NAMESPACE, load_config

    prefix = f"{NAMESPACE}:"
    # Every key of the namespace (the loader refuses unknown ones) and the region, as the program reads them.
    source = {key[len(prefix):]: value for key, value in stack_config.items() if key.startswith(prefix)}
    return load_config(source, stack=stack, region=stack_config.get("aws:region")).environment

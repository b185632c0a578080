"""Property-based: mutated copies of the real stack files either pass cleanly or fail naming the key or the file.

Each example starts from Pulumi.dev.yaml or Pulumi.prod.yaml and applies one mutation - drop a key,
change a value's type, add a key (a typo of a real one, a credential, random text), or break the
YAML text - then goes through the gate's stack-file reading and the config loader, the path of
``python -m gate preview --stack X`` (whose exit code for every failure here is 2, see
test_stack_config_hardening.py).  Accepted outcomes:

* ConfigError: every problem starts with the key it is about (``resilient-rds:...`` or ``aws:region``);
  a key that was added or given a new type is named.
* StackFileError: the message starts with the file name.
* A clean pass: every setting written in the file is loaded with the value written (no conversion
  other than a whole number written as text, which `pulumi config set --path` produces).

Never another exception (a traceback).  The number of examples run is printed.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stack_helpers import NS, PROJECT_DIR

from components import settings as declared
from components.config import ConfigError, StackConfig, load_config
from gate.program import StackFileError, read_stack_config

STACKS = ("dev", "prod")
ORIGINAL = {s: (PROJECT_DIR / f"Pulumi.{s}.yaml").read_text() for s in STACKS}
PARSED = {s: yaml.safe_load(text) for s, text in ORIGINAL.items()}
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
OUTCOMES: Counter[str] = Counter()

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10**6, max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.sampled_from(["15.10", "yes", "db.r6g.large", "sg-0a1b2c3d4e5f6a001", "true", "0", "-1", "~"]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
_new_keys = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=14),
    st.sampled_from(["dbPassword", "masterPassword", "apiKey", "replica", "Database", "enable", "instanceClas", "count "]),
)


def _paths(config: dict[str, Any]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, value in config.items():
        out.append((key,))
        if isinstance(value, dict):
            out += [(key, sub) for sub in value]
    return out


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[str, bytes, str, tuple[str, ...]]:
    stack = draw(st.sampled_from(STACKS))
    kind = draw(st.sampled_from(["drop", "retype", "add", "break"]))
    data = copy.deepcopy(PARSED[stack])
    config = data["config"]
    path: tuple[str, ...] = ()
    if kind == "break":
        text = ORIGINAL[stack]
        at = draw(st.integers(min_value=0, max_value=len(text)))
        junk = draw(st.sampled_from(["\t", ": :", "[", "{", "'", '"', "- x\n", "\x00", "\n  bad", "&a *b", "%"]))
        raw = (text[:at] + junk + text[at:]).encode()
        if draw(st.booleans()):
            raw = raw[: draw(st.integers(min_value=0, max_value=len(raw)))]
        return stack, raw, kind, path
    if kind == "drop":
        path = draw(st.sampled_from(_paths(config)))
        target = config if len(path) == 1 else config[path[0]]
        del target[path[-1]]
    elif kind == "retype":
        path = draw(st.sampled_from(_paths(config)))
        target = config if len(path) == 1 else config[path[0]]
        target[path[-1]] = draw(_values)
    else:
        # Not under tags: any tag name is a valid key there.
        sections = [k for k, v in config.items() if isinstance(v, dict) and k != f"{NS}:tags"]
        section = draw(st.sampled_from([None, *sections]))
        key = draw(_new_keys)
        if section is None:
            key = f"{NS}:{key}"
            config[key] = draw(_values)
            path = (key,)
        else:
            config[section][key] = draw(_values)
            path = (section, key)
    return stack, yaml.dump(data, Dumper=_Dumper, sort_keys=False).encode(), kind, path


def _load(project: Path, stack: str) -> StackConfig:
    """What ``gate preview`` does before any resource: read the file, hand the namespace to the loader."""
    raw = read_stack_config(project, stack)
    raw = {k if ":" in k else f"{NS}:{k}": v for k, v in raw.items()}
    prefix = f"{NS}:"
    # Pulumi hands top-level scalars over as text (structures stay structures once decoded).
    source = {
        k[len(prefix):]: str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, int | float) else v
        for k, v in raw.items()
        if k.startswith(prefix)
    }
    return load_config(source, stack=stack, region=raw.get("aws:region"))


def _written(content: bytes, path: tuple[str, ...]) -> Any:
    config = yaml.load(content.decode(), Loader=_Loader)["config"]
    return config[path[0]] if len(path) == 1 else config[path[0]][path[1]]


def _wrong_type(path: tuple[str, ...], value: Any) -> bool:
    """A value no setting of that kind accepts (None is "left out", not a wrong type)."""
    if len(path) != 2 or value is None:
        return False
    try:
        setting = declared.section(path[0].removeprefix(f"{NS}:")).setting(path[1])
    except KeyError:
        return False
    if setting.kind == "string":
        return not isinstance(value, str)
    if setting.kind == "bool":
        return not isinstance(value, bool) and not (isinstance(value, str) and value.lower() in ("true", "false"))
    if setting.kind == "int":
        return isinstance(value, bool | float | list | dict)
    if setting.kind == "strings":
        return not isinstance(value, list)
    return False


def _same(written: Any, loaded: Any) -> bool:
    if isinstance(loaded, tuple):
        loaded = list(loaded)
    if isinstance(written, str) and isinstance(loaded, int) and not isinstance(loaded, bool):
        return written.strip().lstrip("-").isdigit() and int(written) == loaded
    if isinstance(written, str) and isinstance(loaded, bool):
        return written.lower() == str(loaded).lower()
    if isinstance(written, int) and isinstance(loaded, float) and not isinstance(written, bool):
        return float(written) == loaded
    return type(written) is type(loaded) and written == loaded


def _check_meaning(text: bytes, config: StackConfig) -> None:
    data = yaml.load(text.decode(), Loader=_Loader)["config"]
    data = {k if ":" in k else f"{NS}:{k}": v for k, v in data.items()}
    for dotted, setting in declared.all_settings():
        section, _, key = dotted.rpartition(".")
        holder_written = data.get(f"{NS}:{section}") if section else data
        if not isinstance(holder_written, dict):
            continue  # a section left empty (null): its defaults apply
        written = holder_written.get(key if section else f"{NS}:{key}")
        if written is None or setting.kind == "tags" or dotted in ("replicas.instanceClass", "proxy.initQuery"):
            continue
        holder: Any = getattr(config, declared.snake_case(section)) if section else config
        loaded = getattr(holder, setting.attr)
        assert _same(written, loaded), f"{dotted}: wrote {written!r}, loaded {loaded!r}"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(example=mutated_files())
def test_mutated_stack_files_pass_cleanly_or_fail_naming_key_or_file(
    tmp_path: Path, example: tuple[str, bytes, str, tuple[str, ...]]
) -> None:
    stack, content, kind, path = example
    (tmp_path / f"Pulumi.{stack}.yaml").write_bytes(content)
    try:
        config = _load(tmp_path, stack)
    except StackFileError as error:
        OUTCOMES[f"{kind}: file error"] += 1
        assert str(error).startswith(f"Pulumi.{stack}.yaml"), error
        return
    except ConfigError as error:
        OUTCOMES[f"{kind}: config error"] += 1
        assert error.problems
        for problem in error.problems:
            assert problem.startswith((f"{NS}:", "aws:region")), problem
        if kind == "retype" and _wrong_type(path, _written(content, path)):
            assert any(path[-1] in p for p in error.problems), (path, error.problems)
        if kind == "add":
            named = path[-1].removeprefix(f"{NS}:")
            assert any(named in p for p in error.problems), (named, error.problems)
        return
    OUTCOMES[f"{kind}: clean pass"] += 1
    assert kind != "add" or path[-1] == "aws:region", "an added key passed silently"
    _check_meaning(content, config)


def test_print_how_many_examples_ran(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nstack-file property test: {sum(OUTCOMES.values())} examples: {dict(sorted(OUTCOMES.items()))}")
    assert sum(OUTCOMES.values()) > 0

"""AWS and PostgreSQL facts for RDS for PostgreSQL, as pure functions: the one source of these numbers.

The policy pack judges with them and the program sizes with them (``components/sizing.py`` imports
them from here), so they cannot drift.  They live inside the pack because ``pulumi policy publish``
uploads ``policies/`` alone: the pack must run from that directory with nothing else.  This module
imports only the standard library, and the program can import it (``policies.rules.rds_facts``)
without loading any rule: ``rules/__init__.py`` imports nothing (a test holds that).

Facts encoded here (RDS for PostgreSQL documentation):

* default ``max_connections`` = ``LEAST({DBInstanceClassMemory/9531392}, 5000)``
* default ``shared_buffers`` = ``{DBInstanceClassMemory/32768}`` in 8 kB pages,
  i.e. a quarter of instance memory.
* ``work_mem`` defaults to 4 MB and ``hash_mem_multiplier`` to 2.0 (PostgreSQL 15); neither is set by
  the RDS default parameter group, so an omitted ``work_mem`` is 4 MB.
* ``DBInstanceClassMemory`` is the instance class memory in bytes.  RDS
  subtracts what the OS and its own agents reserve, so the live default is a
  few percent below the figure computed here; we use the nominal class memory
  so that policy checks of the form "is this value above the default" never
  fire falsely.
* ``superuser_reserved_connections`` (3) and ``rds.rds_superuser_reserved_connections`` (2) keep
  five connections for administrators; each physical replica's WAL sender takes one more.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

MIB = 1024**2
GIB = 1024**3
PAGE_BYTES = 8192  # PostgreSQL block size, the unit of shared_buffers / effective_cache_size

#: Divisor in the RDS default formula for max_connections.
MAX_CONNECTIONS_DIVISOR = 9531392
#: Upper bound in the same formula.
MAX_CONNECTIONS_CAP = 5000
#: ``superuser_reserved_connections`` (3) + ``rds.rds_superuser_reserved_connections`` (2).
SUPERUSER_RESERVED_CONNECTIONS = 5
#: Connections kept free for each physical replica's WAL sender plus monitoring tools.
REPLICATION_RESERVED_PER_REPLICA = 1
#: PostgreSQL's default work_mem (4 MB), in kB as the parameter is expressed.
DEFAULT_WORK_MEM_KB = 4096

#: PostgreSQL 15's default hash_mem_multiplier: one hash node may use work_mem x this.
DEFAULT_HASH_MEM_MULTIPLIER = 2.0
#: Share of the open database connections that run a query at the same moment: the design point of
#: the connection budget (through RDS Proxy only that share needs a database connection) and of the
#: memory budget.  0.2 reproduces the scenario's "250 client connections -> 50 DB connections".
DESIGN_ACTIVE_RATIO = 0.2
#: RDS Proxy's MaxConnectionsPercent when the target group does not set it.
DEFAULT_PROXY_MAX_CONNECTIONS_PERCENT = 100

_SIZES_T = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_SIZES_M = {
    "large": 8,
    "xlarge": 16,
    "2xlarge": 32,
    "4xlarge": 64,
    "8xlarge": 128,
    "12xlarge": 192,
    "16xlarge": 256,
}
_SIZES_R = {
    "large": 16,
    "xlarge": 32,
    "2xlarge": 64,
    "4xlarge": 128,
    "8xlarge": 256,
    "12xlarge": 384,
    "16xlarge": 512,
}


def _family(prefix: str, sizes: Mapping[str, int], extra: Mapping[str, int] | None = None) -> dict[str, int]:
    table = {f"db.{prefix}.{size}": gib for size, gib in sizes.items()}
    for size, gib in (extra or {}).items():
        table[f"db.{prefix}.{size}"] = gib
    return table


#: Instance class -> memory in GiB, for the classes RDS offers for PostgreSQL 15.
INSTANCE_MEMORY_GIB: dict[str, int] = {
    **_family("t3", _SIZES_T),
    **_family("t4g", _SIZES_T),
    **_family("m5", _SIZES_M, {"24xlarge": 384}),
    **_family("m6g", _SIZES_M),
    **_family("m6i", _SIZES_M, {"24xlarge": 384, "32xlarge": 512}),
    **_family("m7g", _SIZES_M),
    **_family("r5", _SIZES_R, {"24xlarge": 768}),
    **_family("r6g", _SIZES_R),
    **_family("r6i", _SIZES_R, {"24xlarge": 768, "32xlarge": 1024}),
    **_family("r7g", _SIZES_R),
}


class UnknownInstanceClass(ValueError):
    """The instance class is not in :data:`INSTANCE_MEMORY_GIB`."""


def known_instance_classes() -> list[str]:
    return sorted(INSTANCE_MEMORY_GIB, key=lambda c: (c.split(".")[1], INSTANCE_MEMORY_GIB[c]))


def instance_memory_bytes(instance_class: str) -> int:
    """``DBInstanceClassMemory`` for *instance_class*, in bytes."""
    try:
        return INSTANCE_MEMORY_GIB[instance_class] * GIB
    except KeyError:
        raise UnknownInstanceClass(
            f"unknown instance class {instance_class!r}; known families are "
            "t3, t4g, m5, m6g, m6i, m7g, r5, r6g, r6i, r7g (e.g. 'db.t3.medium', 'db.r6g.large')"
        ) from None


def default_max_connections(instance_class: str) -> int:
    """RDS's default ``max_connections``: ``LEAST({DBInstanceClassMemory/9531392}, 5000)``."""
    return min(instance_memory_bytes(instance_class) // MAX_CONNECTIONS_DIVISOR, MAX_CONNECTIONS_CAP)


def default_shared_buffers_pages(instance_class: str) -> int:
    """RDS's default ``shared_buffers``: ``{DBInstanceClassMemory/32768}`` 8 kB pages (25 % of RAM)."""
    return instance_memory_bytes(instance_class) // 32768


# --- Parameter-group value formulas -----------------------------------------------------------

_VAR = "DBInstanceClassMemory"


class FormulaError(ValueError):
    """A parameter value that is neither a number nor an RDS formula we can evaluate."""


def evaluate_parameter_value(value: str, instance_class: str) -> float:
    """Evaluate an RDS parameter value for *instance_class*.

    Accepts plain numbers and RDS formulas: ``{DBInstanceClassMemory/32768}``,
    ``{DBInstanceClassMemory*3/4}``, and ``LEAST(...)``, ``GREATEST(...)``,
    ``SUM(...)`` over such terms.  Raises :class:`FormulaError` for anything else
    (for example ``"64MB"`` with a unit suffix, which RDS parameter groups do not take).
    """
    text = value.strip()
    memory = float(instance_memory_bytes(instance_class))
    return _Parser(text, {_VAR: memory}).parse()


class _Parser:
    """Recursive-descent evaluator for the small RDS formula language."""

    def __init__(self, text: str, variables: Mapping[str, float]) -> None:
        self.text = text
        self.pos = 0
        self.variables = variables

    def parse(self) -> float:
        result = self._expr()
        self._skip()
        if self.pos != len(self.text):
            raise FormulaError(f"cannot evaluate parameter value {self.text!r}")
        return result

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        self._skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise FormulaError(f"cannot evaluate parameter value {self.text!r}: expected {char!r}")
        self.pos += 1

    def _expr(self) -> float:
        value = self._term()
        while self._peek() in ("+", "-"):
            op = self.text[self.pos]
            self.pos += 1
            rhs = self._term()
            value = value + rhs if op == "+" else value - rhs
        return value

    def _term(self) -> float:
        value = self._atom()
        while self._peek() in ("*", "/"):
            op = self.text[self.pos]
            self.pos += 1
            rhs = self._atom()
            if op == "/" and rhs == 0:
                raise FormulaError(f"division by zero in {self.text!r}")
            value = value * rhs if op == "*" else value / rhs
        return value

    def _atom(self) -> float:
        char = self._peek()
        if char == "{":
            self.pos += 1
            value = self._expr()
            self._expect("}")
            return value
        if char == "(":
            self.pos += 1
            value = self._expr()
            self._expect(")")
            return value
        match = re.compile(r"[A-Za-z_]+|\d+(?:\.\d+)?").match(self.text, self.pos)
        if not match:
            raise FormulaError(f"cannot evaluate parameter value {self.text!r}")
        word = match.group(0)
        self.pos = match.end()
        if word[0].isdigit():
            return float(word)
        upper = word.upper()
        if upper in ("LEAST", "GREATEST", "SUM"):
            self._expect("(")
            args = [self._expr()]
            while self._peek() == ",":
                self.pos += 1
                args.append(self._expr())
            self._expect(")")
            return min(args) if upper == "LEAST" else max(args) if upper == "GREATEST" else sum(args)
        if word in self.variables:
            return self.variables[word]
        raise FormulaError(f"cannot evaluate parameter value {self.text!r}: unknown name {word!r}")



# --- Connections kept free ------------------------------------------------------------------------


def reserved_connections(replica_count: int) -> int:
    """Connections that must stay free for admins and replication."""
    return SUPERUSER_RESERVED_CONNECTIONS + REPLICATION_RESERVED_PER_REPLICA * replica_count


def proxy_connection_limit(max_connections: int, max_connections_percent: int = DEFAULT_PROXY_MAX_CONNECTIONS_PERCENT) -> int:
    """The database connections an RDS Proxy may open to one target: MaxConnectionsPercent of max_connections."""
    return max_connections * max_connections_percent // 100


def recommended_proxy_max_connections_percent(max_connections: int, replica_count: int = 0) -> int:
    """The largest percent that still leaves the reserve free."""
    usable = max_connections - reserved_connections(replica_count)
    return max(1, min(100, usable * 100 // max_connections))


# --- Memory safety --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryCheck:
    """What ``shared_buffers`` and ``work_mem`` can ask of an instance, at two levels of certainty.

    PostgreSQL allocates ``work_mem`` per sort or hash node of a running query (a hash node up to
    ``work_mem x hash_mem_multiplier``), only while the query runs, and only as far as the data needs.
    So no fixed connection count makes an overcommit certain; two limits are defensible:

    * **Design point** (:attr:`design_point_bytes`): the connections that can really be open
      (``max_connections``, or what an RDS Proxy in front may open) of which the budget's share
      :data:`DESIGN_ACTIVE_RATIO` runs one sort or hash each, plus ``shared_buffers``.  That is the
      concurrency the stack is sized for; running out of memory there is the expected outcome of an
      ordinary busy hour, not bad luck.  A single hash node that cannot fit next to ``shared_buffers``
      (:attr:`single_operation_bytes`) fails even with one query.
    * **Worst case** (:attr:`worst_case_bytes`): every connection allowed by ``max_connections`` runs
      a sort at the same moment.  Ordinary settings exceed it (16 MB x the default 1,802 connections
      of a 16 GiB class is 28 GiB): a risk to watch, not a certain failure.
    """

    memory_bytes: int
    shared_buffers_bytes: int
    work_mem_bytes: int
    max_connections: int
    #: Connections that can really be open: max_connections, or fewer when RDS Proxy caps them.
    open_connections: int
    hash_mem_multiplier: float = DEFAULT_HASH_MEM_MULTIPLIER
    active_ratio: float = DESIGN_ACTIVE_RATIO

    @property
    def worst_case_bytes(self) -> int:
        """shared_buffers plus one work_mem per allowed connection (a single sort or hash each)."""
        return self.shared_buffers_bytes + self.work_mem_bytes * self.max_connections

    @property
    def fits(self) -> bool:
        """The worst case fits in memory."""
        return self.worst_case_bytes <= self.memory_bytes

    @property
    def active_connections(self) -> int:
        """Connections running a query at once at the design point."""
        return math.ceil(self.open_connections * self.active_ratio)

    @property
    def design_point_bytes(self) -> int:
        """shared_buffers plus one work_mem per connection active at the design point."""
        return self.shared_buffers_bytes + self.work_mem_bytes * self.active_connections

    @property
    def single_operation_bytes(self) -> int:
        """shared_buffers plus the largest single hash node (work_mem x hash_mem_multiplier)."""
        return self.shared_buffers_bytes + math.ceil(self.work_mem_bytes * self.hash_mem_multiplier)

    def certain_overcommit(self, limit_bytes: int | None = None) -> bool:
        """The design point or a single hash node needs more than *limit_bytes* (default: all memory)."""
        limit = self.memory_bytes if limit_bytes is None else limit_bytes
        return self.design_point_bytes > limit or self.single_operation_bytes > limit


def memory_check(
    instance_class: str,
    *,
    max_connections: int | None = None,
    work_mem_kb: int = DEFAULT_WORK_MEM_KB,
    shared_buffers_pages: int | None = None,
    proxy_max_connections_percent: int | None = None,
    hash_mem_multiplier: float = DEFAULT_HASH_MEM_MULTIPLIER,
    active_ratio: float = DESIGN_ACTIVE_RATIO,
) -> MemoryCheck:
    """``shared_buffers`` and ``work_mem`` against the instance's RAM (see :class:`MemoryCheck`).

    *max_connections* / *shared_buffers_pages* None mean the RDS defaults of the class;
    *proxy_max_connections_percent* is the MaxConnectionsPercent of an RDS Proxy that targets the
    instance (None: no proxy, every connection max_connections allows can be open).
    """
    if not 0 < active_ratio <= 1:
        raise ValueError(f"active_ratio must be in (0, 1], got {active_ratio}")
    if hash_mem_multiplier < 1:
        raise ValueError(f"hash_mem_multiplier must be at least 1, got {hash_mem_multiplier}")
    memory = instance_memory_bytes(instance_class)
    pages = shared_buffers_pages if shared_buffers_pages is not None else default_shared_buffers_pages(instance_class)
    effective_max = max_connections if max_connections is not None else default_max_connections(instance_class)
    open_connections = (
        effective_max
        if proxy_max_connections_percent is None
        else min(effective_max, proxy_connection_limit(effective_max, proxy_max_connections_percent))
    )
    return MemoryCheck(
        memory_bytes=memory,
        shared_buffers_bytes=pages * PAGE_BYTES,
        work_mem_bytes=work_mem_kb * 1024,
        max_connections=effective_max,
        open_connections=open_connections,
        hash_mem_multiplier=hash_mem_multiplier,
        active_ratio=active_ratio,
    )

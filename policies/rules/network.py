"""Network: the database is reachable only through RDS Proxy, never from a CIDR, never publicly.

One exception is the platform's, not ours: RDS Proxy cannot target a read replica of
an RDS instance, so readers connect to replicas directly.  Ingress from a security
group into a group attached *only* to read replicas (``replicateSourceDb`` set) is
that read path and allowed; a group that a primary (or a cluster) shares still
admits proxies only, and CIDR ingress is refused on every database group.

Ingress to a security group is written in three ways, and all three are read here:

* inline ``ingress`` blocks of ``aws.ec2.SecurityGroup``;
* ``aws.vpc.SecurityGroupIngressRule`` (one rule per resource);
* the legacy ``aws.ec2.SecurityGroupRule`` with ``type = "ingress"``.

Which security groups belong to a database and which to a proxy is decided from
property dependencies (``vpcSecurityGroupIds`` of instances, clusters, proxies and
proxy endpoints), so it works during a preview when every ``sg-...`` id is unknown.
Known ids (literals, or outputs after create) are matched too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, Severity

from .config_schemas import string_list_schema
from .policy_factory import Config, Props, resource_policy, stack_policy
from .property_values import as_bool, as_list, as_number, is_unknown
from .rds_lookups import engine_of, is_replica, proxy_links
from .resource_types import (
    CLUSTER,
    DEFAULT_SECURITY_GROUP,
    DEFAULT_VPC,
    INSTANCE,
    PROXY,
    PROXY_ENDPOINT,
    PROXY_TARGET,
    SECURITY_GROUP,
    SG_INGRESS_RULE,
    SG_RULE,
    SUBNET,
    SUBNET_GROUP,
    VPC,
    label,
)
from .stack_index import Res, StackIndex

_DEFAULT_PORTS = {"postgres": 5432, "aurora-postgresql": 5432, "mysql": 3306, "mariadb": 3306, "aurora-mysql": 3306}


def _protocol(value: Any) -> str | None:
    """A rule's protocol normalised (``"TCP"`` -> ``"tcp"``, ``6`` -> ``"6"``); None when unknown or unset."""
    if isinstance(value, bool) or value is None or is_unknown(value):
        return None
    if isinstance(value, int | float):
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return None


@dataclass
class Ingress:
    """One ingress permission into ``target`` (a security group resource of the stack)."""

    target: Res
    #: The resource that declares it (the group itself for inline rules).
    declared_by: Res
    protocol: Any
    from_port: Any
    to_port: Any
    #: Source security groups of the stack (by URN).
    source_groups: list[Res]
    #: Source security group ids that match no group of the stack.
    external_groups: list[str]
    cidrs: list[str]
    prefix_lists: list[str]
    #: True when a source could not be determined (unknown value with no dependency).
    undetermined: bool = False

    def covers_port(self, port: int) -> bool:
        """Whether the rule admits TCP on *port* (databases listen on TCP only).

        ``-1``/``all`` admit every protocol on every port; ``tcp``/``6`` admit the port range.  Other
        protocols (``udp``, ``icmp``, other numbers) never reach the database's TCP port.  An unknown
        protocol or port is assumed to cover it rather than miss an open database.
        """
        proto = _protocol(self.protocol)
        if proto is None or proto in ("-1", "all"):
            return True
        if proto not in ("tcp", "6"):
            return False
        low, high = as_number(self.from_port), as_number(self.to_port)
        if low is None or high is None:
            # Unknown or unset ports: assume the worst rather than miss an open database.
            return True
        if low == -1 and high == -1:
            return True
        return low <= port <= high


@dataclass
class NetworkView:
    db_groups: dict[str, list[Res]]  # SG urn -> databases using it
    proxy_groups: dict[str, list[Res]]  # SG urn -> proxies / proxy endpoints using it
    ingress: list[Ingress]


def group_ids(index: StackIndex) -> dict[str, Res]:
    """Known ``sg-...`` ids of the stack's groups (literal or known outputs)."""
    out = {}
    for sg in index.of_type(SECURITY_GROUP):
        sg_id = sg.props.get("id")
        if isinstance(sg_id, str) and sg_id:
            out[sg_id] = sg
    return out


def _attached(index: StackIndex, types: tuple[str, ...], ids: dict[str, Res]) -> dict[str, list[Res]]:
    groups: dict[str, list[Res]] = {}
    for type_ in types:
        for res in index.of_type(type_):
            found = {sg.urn: sg for sg in index.referenced(res, "vpcSecurityGroupIds", SECURITY_GROUP)}
            for value in as_list(res.props.get("vpcSecurityGroupIds")):
                if isinstance(value, str) and value in ids:
                    found[ids[value].urn] = ids[value]
            for urn in found:
                groups.setdefault(urn, []).append(res)
    return groups


def _sources(
    index: StackIndex, owner: Res, prop: str, values: list[Any], ids: dict[str, Res]
) -> tuple[list[Res], list[str], bool]:
    """Resolve source security-group references: (groups of the stack, external ids, undetermined)."""
    referenced = index.referenced(owner, prop, SECURITY_GROUP)
    groups = {sg.urn: sg for sg in referenced}
    literals: list[str] = []
    undetermined = False
    unknown_values = 0
    for value in values:
        if is_unknown(value):
            unknown_values += 1
        elif isinstance(value, str) and value:
            if value in ids:
                groups[ids[value].urn] = ids[value]
            elif value.startswith("sg-") or "/" in value:
                literals.append(value)
    if unknown_values and not referenced:
        undetermined = True
    # With known outputs the ids of the stack's own groups arrive as literals too, next to a property
    # dependency on the group.  Only ids beyond what the dependencies account for come from outside.
    distinct = list(dict.fromkeys(literals))
    external = distinct if len(distinct) + unknown_values > len(referenced) else []
    return list(groups.values()), external, undetermined


def _strings(value: Any) -> list[str]:
    return [v for v in as_list(value) if isinstance(v, str) and v]


def network_view(index: StackIndex) -> NetworkView:
    ids = group_ids(index)
    db_groups = _attached(index, (INSTANCE, CLUSTER), ids)
    proxy_groups = _attached(index, (PROXY, PROXY_ENDPOINT), ids)
    ingress: list[Ingress] = []

    # 1. Inline ingress blocks.  Property dependencies are per property (``ingress``), not per block,
    #    so the groups referenced anywhere in ``ingress`` are attributed to every block that names
    #    a group it cannot resolve by value.
    for sg in index.of_type(SECURITY_GROUP):
        blocks = sg.props.get("ingress")
        if not isinstance(blocks, list):
            continue
        for block in blocks:
            if not isinstance(block, dict):
                continue
            refs = as_list(block.get("securityGroups"))
            groups, external, undetermined = _sources(index, sg, "ingress", refs, ids) if refs else ([], [], False)
            if as_bool(block.get("self")):
                groups.append(sg)
            ingress.append(
                Ingress(
                    target=sg,
                    declared_by=sg,
                    protocol=block.get("protocol"),
                    from_port=block.get("fromPort"),
                    to_port=block.get("toPort"),
                    source_groups=groups,
                    external_groups=external,
                    cidrs=_strings(block.get("cidrBlocks")) + _strings(block.get("ipv6CidrBlocks")),
                    prefix_lists=_strings(block.get("prefixListIds")),
                    undetermined=undetermined,
                )
            )

    # 2. aws.vpc.SecurityGroupIngressRule
    for rule in index.of_type(SG_INGRESS_RULE):
        target = index.resolve(rule, "securityGroupId", SECURITY_GROUP, rule.props.get("securityGroupId"), ("id",))
        if target is None:
            continue
        ref = rule.props.get("referencedSecurityGroupId")
        groups, external, undetermined = (
            _sources(index, rule, "referencedSecurityGroupId", [ref], ids) if ref is not None else ([], [], False)
        )
        cidrs = [c for c in (rule.props.get("cidrIpv4"), rule.props.get("cidrIpv6")) if isinstance(c, str) and c]
        prefix = rule.props.get("prefixListId")
        ingress.append(
            Ingress(
                target=target,
                declared_by=rule,
                protocol=rule.props.get("ipProtocol"),
                from_port=rule.props.get("fromPort"),
                to_port=rule.props.get("toPort"),
                source_groups=groups,
                external_groups=external,
                cidrs=cidrs,
                prefix_lists=[prefix] if isinstance(prefix, str) and prefix else [],
                undetermined=undetermined,
            )
        )

    # 3. aws.ec2.SecurityGroupRule (type "ingress")
    for rule in index.of_type(SG_RULE):
        if rule.props.get("type") != "ingress":
            continue
        target = index.resolve(rule, "securityGroupId", SECURITY_GROUP, rule.props.get("securityGroupId"), ("id",))
        if target is None:
            continue
        ref = rule.props.get("sourceSecurityGroupId")
        groups, external, undetermined = (
            _sources(index, rule, "sourceSecurityGroupId", [ref], ids) if ref is not None else ([], [], False)
        )
        if as_bool(rule.props.get("self")):
            groups.append(target)
        ingress.append(
            Ingress(
                target=target,
                declared_by=rule,
                protocol=rule.props.get("protocol"),
                from_port=rule.props.get("fromPort"),
                to_port=rule.props.get("toPort"),
                source_groups=groups,
                external_groups=external,
                cidrs=_strings(rule.props.get("cidrBlocks")) + _strings(rule.props.get("ipv6CidrBlocks")),
                prefix_lists=_strings(rule.props.get("prefixListIds")),
                undetermined=undetermined,
            )
        )
    return NetworkView(db_groups, proxy_groups, _without_refreshed_copies(ingress))


_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


def _signature(rule: Ingress) -> tuple[Any, ...]:
    """What a rule admits, independent of how it was written (for matching refreshed copies)."""
    proto = _protocol(rule.protocol)
    proto = _PROTOCOL_NAMES.get(proto, proto) if proto is not None else None
    ports = (None, None) if proto == "-1" else (as_number(rule.from_port), as_number(rule.to_port))
    return (
        rule.target.urn,
        proto,
        ports,
        frozenset(g.urn for g in rule.source_groups),
        frozenset(rule.external_groups),
        frozenset(rule.cidrs),
        frozenset(rule.prefix_lists),
    )


def _without_refreshed_copies(ingress: list[Ingress]) -> list[Ingress]:
    """Drop inline blocks that repeat a rule resource of the stack.

    On a deployed stack the engine sends each group's ``ingress`` as refreshed from AWS, which
    lists the rules declared as separate rule resources too; judged twice they would be reported
    twice, once on the group.  The rule resource is the one that declares them.
    """
    declared = {_signature(r) for r in ingress if r.declared_by is not r.target}
    return [r for r in ingress if r.declared_by is not r.target or _signature(r) not in declared]


def _db_names(dbs: list[Res]) -> str:
    return ", ".join(label(d.type, d.name) for d in dbs)


def _db_ports(dbs: list[Res]) -> list[int]:
    ports = []
    for db in dbs:
        port = as_number(db.props.get("port"))
        if port is not None:
            ports.append(int(port))
        else:
            ports.append(_DEFAULT_PORTS.get(engine_of(db.props) or "", 5432))
    return sorted(set(ports))


# --- rds-ingress-only-from-proxy -------------------------------------------------------------------


def _replicas_only(dbs: list[Res]) -> bool:
    """Every database using the group is a read replica of an instance (no primary, no cluster)."""
    return all(db.type == INSTANCE and is_replica(db.props) for db in dbs)


def _shared_hint(dbs: list[Res]) -> str:
    if any(db.type == INSTANCE and is_replica(db.props) for db in dbs):
        return (
            " Read replicas may admit the application tier directly (no RDS Proxy can front them), but only "
            "in a security group of their own: this one is shared with a primary, so give the replicas a "
            "separate group."
        )
    return ""


def _check_ingress_from_proxy(index: StackIndex, config: Config, report: ReportViolation) -> None:
    view = network_view(index)
    allowed_ids = set(config.get("allowedSourceSecurityGroupIds") or [])
    seen: set[tuple[str, str]] = set()
    for rule in view.ingress:
        dbs = view.db_groups.get(rule.target.urn)
        if not dbs or _replicas_only(dbs):
            # A replica-only group admitting security groups is the read path RDS leaves us (CIDR
            # ingress into it is rds-no-cidr-ingress's business).
            continue
        if not any(rule.covers_port(port) for port in _db_ports(dbs)):
            continue  # another protocol or port: the database does not listen there
        hint = _shared_hint(dbs)
        where = (
            f"inline ingress of {rule.target.label}"
            if rule.declared_by is rule.target
            else f"{rule.declared_by.label} (into {rule.target.label})"
        )
        for source in rule.source_groups:
            if source.urn in view.proxy_groups or (rule.declared_by.urn, source.urn) in seen:
                continue
            seen.add((rule.declared_by.urn, source.urn))
            report(
                f"{where} lets {source.label}, which is attached to no RDS Proxy, reach the database security group "
                f"of {_db_names(dbs)}. Clients that bypass the proxy open their own connections, exhaust "
                "max_connections and see the full failover time; allow ingress to the database only from the "
                f"proxy's security group and let applications connect to the proxy endpoint.{hint}",
                rule.declared_by.urn,
            )
        for sg_id in rule.external_groups:
            if sg_id in allowed_ids or (rule.declared_by.urn, sg_id) in seen:
                continue
            seen.add((rule.declared_by.urn, sg_id))
            report(
                f"{where} lets security group {sg_id} (not attached to any RDS Proxy of this stack) reach the "
                f"database security group of {_db_names(dbs)}. Direct clients bypass pooling and failover handling; "
                "allow only the proxy's security group, or list the id in allowedSourceSecurityGroupIds if it "
                f"belongs to a proxy managed elsewhere.{hint}",
                rule.declared_by.urn,
            )


# --- rds-no-cidr-ingress ----------------------------------------------------------------------------


def _cidr_allowed(cidr: str, allowed: list[str]) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    for entry in allowed:
        try:
            allowed_net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if net.version == allowed_net.version and net.subnet_of(allowed_net):  # type: ignore[arg-type]
            return True
    return False


def _check_cidr_ingress(index: StackIndex, config: Config, report: ReportViolation) -> None:
    view = network_view(index)
    allowed = list(config.get("allowedCidrs") or [])
    for rule in view.ingress:
        dbs = view.db_groups.get(rule.target.urn)
        if not dbs:
            continue
        ports = [p for p in _db_ports(dbs) if rule.covers_port(p)]
        if not ports:
            continue
        where = (
            f"inline ingress of {rule.target.label}"
            if rule.declared_by is rule.target
            else f"{rule.declared_by.label} (into {rule.target.label})"
        )
        bad = [c for c in rule.cidrs if not _cidr_allowed(c, allowed)] + rule.prefix_lists
        if not bad:
            continue
        world = any(c in ("0.0.0.0/0", "::/0") for c in bad)
        if _replicas_only(dbs):
            why = (
                "Address-based access lets every host in the range connect to the read replicas; replace it with "
                "ingress from the application tier's security group."
            )
        else:
            why = (
                "Address-based access lets every host in the range connect directly, bypassing RDS Proxy and its "
                "IAM/TLS enforcement; replace it with ingress from the proxy's security group."
            )
        report(
            f"{where} opens database port {', '.join(map(str, ports))} of {_db_names(dbs)} to "
            f"{', '.join(bad)}{' (the whole internet)' if world else ''}. {why}",
            rule.declared_by.urn,
        )


# --- rds-not-publicly-accessible -------------------------------------------------------------------------


def _check_public(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    if as_bool(props.get("publiclyAccessible")):
        report(
            f"{label(type_, name)} has publiclyAccessible = true. The instance gets a public DNS name and IP, one "
            "security-group mistake away from the internet; set publiclyAccessible to false and reach it through "
            "RDS Proxy inside the VPC.",
            None,
        )


# --- rds-security-groups-set -----------------------------------------------------------------------

def _check_groups_set(type_: str, name: str, props: Props, config: Config, report: ReportViolation) -> None:
    # Judged on the program's inputs (Analyze), where an omitted list is simply absent in every shape; in a
    # deployed stack's state the default group RDS attached looks like any group of another stack.
    value = props.get("vpcSecurityGroupIds")
    if is_unknown(value):
        return  # computed from another resource: a list the program chose
    if value is not None and not (isinstance(value, list) and not value):
        return
    kind = "read replica" if type_ == INSTANCE and is_replica(props) else "database"
    report(
        f"{label(type_, name)} sets no vpcSecurityGroupIds, so RDS puts this {kind} in the VPC's default security "
        "group. That group admits all traffic from its own members, and every task or instance launched without a "
        "group joins it, so they reach the database without the RDS Proxy; list a security group of the "
        "database's own that admits only the proxy's group.",
        None,
    )


# --- rds-not-in-default-security-group ------------------------------------------------------------

def _default_group_reason(index: StackIndex, db: Res) -> str | None:
    """Why *db* lists its VPC's default security group, or None when it does not (or cannot be told).

    Only an explicit listing, by property dependency, is judged here.  An omitted list is
    ``rds-security-groups-set``'s (a resource policy, on the inputs).  Ids are not matched by value: they are
    known only in a deployed stack's state, where the default group RDS attached to an instance declared
    without groups carries the same id as one listed on purpose, so a match by value would judge omission
    in that shape only.
    """
    if index.referenced(db, "vpcSecurityGroupIds", DEFAULT_SECURITY_GROUP):
        return "lists the VPC's default security group (aws.ec2.DefaultSecurityGroup) in vpcSecurityGroupIds"
    # The only security-group id a VPC exports is defaultSecurityGroupId.
    if any(index.referenced(db, "vpcSecurityGroupIds", t) for t in (VPC, DEFAULT_VPC)):
        return "lists the VPC's default security group (the VPC's defaultSecurityGroupId) in vpcSecurityGroupIds"
    return None


def _check_default_group(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for type_ in (INSTANCE, CLUSTER):
        for db in index.of_type(type_):
            reason = _default_group_reason(index, db)
            if reason is None:
                continue
            report(
                f"{db.label} {reason}. That group admits all traffic from its own members, and every task or "
                "instance launched without a security group joins it, so any of them reaches the database directly; "
                "give the database a security group of its own that admits only the RDS Proxy's group.",
                db.urn,
            )


# --- rds-admits-proxy --------------------------------------------------------------------------------


def attached_groups(index: StackIndex, res: Res, ids: dict[str, Res]) -> tuple[list[Res], bool]:
    """Security groups of the stack attached to *res*, and whether every attached group is one of them."""
    value = res.props.get("vpcSecurityGroupIds")
    found = {sg.urn: sg for sg in index.referenced(res, "vpcSecurityGroupIds", SECURITY_GROUP)}
    if not isinstance(value, list):
        return list(found.values()), False
    unexplained = 0
    for item in value:
        if isinstance(item, str) and item in ids:
            found[ids[item].urn] = ids[item]
        else:
            unexplained += 1
    # Unknown ids and literals of other groups are explained by the property dependencies (the stack's
    # own groups during a preview); beyond those, a group from outside the stack is attached.
    complete = unexplained <= len(index.referenced(res, "vpcSecurityGroupIds", SECURITY_GROUP))
    return list(found.values()), complete


def _check_admits_proxy(index: StackIndex, config: Config, report: ReportViolation) -> None:
    view = network_view(index)
    ids = group_ids(index)
    for link in proxy_links(index):
        db = link.instance or link.cluster
        if link.proxy is None or db is None:
            continue
        db_groups, db_complete = attached_groups(index, db, ids)
        proxy_groups, proxy_complete = attached_groups(index, link.proxy, ids)
        if not db_groups or not db_complete or not proxy_groups or not proxy_complete:
            continue  # default group, or a group outside the stack: its rules are not ours to read
        port = _db_ports([db])[0]
        targets = {sg.urn for sg in db_groups}
        sources = {sg.urn for sg in proxy_groups}
        for rule in view.ingress:
            if rule.target.urn not in targets or not rule.covers_port(port):
                continue
            if (
                rule.undetermined
                or rule.cidrs
                or rule.prefix_lists
                or rule.external_groups
                or any(src.urn in sources for src in rule.source_groups)
            ):
                break  # some path exists (address-based paths are rds-no-cidr-ingress's business)
        else:
            report(
                f"No security group of {db.label} admits TCP port {port} from a security group of "
                f"{link.proxy.label} ({', '.join(sg.label for sg in proxy_groups)}). The proxy cannot open "
                "connections to its target, so every client connection through it fails; add ingress on the "
                "database's group from the proxy's group on the database port.",
                db.urn,
            )


# --- rds-ingress-database-port-only ----------------------------------------------------------------


def _wider_than(rule: Ingress, ports: list[int]) -> str | None:
    """How *rule* opens more than the database ports, or None when it opens exactly those (or cannot be told)."""
    proto = _protocol(rule.protocol)
    if proto in ("-1", "all"):
        return "every protocol and port"
    if proto not in ("tcp", "6"):
        return None
    low, high = as_number(rule.from_port), as_number(rule.to_port)
    if low is None or high is None:
        return None
    if low == high and int(low) in ports:
        return None
    return f"TCP {int(low)}-{int(high)}"


def _check_port_only(index: StackIndex, config: Config, report: ReportViolation) -> None:
    view = network_view(index)
    for rule in view.ingress:
        dbs = view.db_groups.get(rule.target.urn)
        if not dbs:
            continue
        # Only paths the other network policies allow (from the proxy; app groups into a replica-only
        # group): a rule they already refuse is not reported twice.
        if rule.cidrs or rule.prefix_lists or rule.external_groups or rule.undetermined or not rule.source_groups:
            continue
        if not _replicas_only(dbs) and any(src.urn not in view.proxy_groups for src in rule.source_groups):
            continue
        ports = _db_ports(dbs)
        if not any(rule.covers_port(p) for p in ports):
            continue
        wider = _wider_than(rule, ports)
        if wider is None:
            continue
        where = (
            f"inline ingress of {rule.target.label}"
            if rule.declared_by is rule.target
            else f"{rule.declared_by.label} (into {rule.target.label})"
        )
        report(
            f"{where} opens {wider} on the database group of {_db_names(dbs)}, not just port "
            f"{', '.join(map(str, ports))}. Anything else listening there (or added later) is reachable too; "
            "narrow the rule to TCP on the database port.",
            rule.declared_by.urn,
        )


# --- rds-subnet-group-two-azs ---------------------------------------------------------------------

def _check_subnet_group(index: StackIndex, config: Config, report: ReportViolation) -> None:
    for group in index.of_type(SUBNET_GROUP):
        value = group.props.get("subnetIds")
        if not isinstance(value, list):
            continue
        if len(value) < 2:
            report(
                f"{group.label} lists {len(value)} subnet(s). RDS refuses a DB subnet group that does not cover at "
                "least two Availability Zones (DBSubnetGroupDoesNotCoverEnoughAZs), so the deploy fails; list "
                "subnets in two or more Availability Zones.",
                group.urn,
            )
            continue
        subnets = index.referenced(group, "subnetIds", SUBNET)
        subnet_ids = {s.props.get("id"): s for s in index.of_type(SUBNET) if isinstance(s.props.get("id"), str)}
        for item in value:
            if isinstance(item, str) and item in subnet_ids and subnet_ids[item] not in subnets:
                subnets.append(subnet_ids[item])
        if len(subnets) < len(value):
            continue  # subnets from outside the stack: their zones are unknown here
        zones: set[str] = set()
        for subnet in subnets:
            zone = subnet.props.get("availabilityZone") or subnet.props.get("availabilityZoneId")
            if not isinstance(zone, str) or not zone:
                zones = set()
                break
            zones.add(zone)
        if len(zones) == 1:
            report(
                f"{group.label} has all its subnets in {zones.pop()}. RDS refuses a DB subnet group that does not "
                "cover at least two Availability Zones, and a Multi-AZ standby needs a second zone; add a subnet "
                "in another Availability Zone.",
                group.urn,
            )


RDS_INGRESS_ONLY_FROM_PROXY = stack_policy(
    "rds-ingress-only-from-proxy",
    "Security groups of RDS primaries and clusters accept ingress only from security groups attached to an "
    "RDS Proxy (inline ingress, aws.vpc.SecurityGroupIngressRule and aws.ec2.SecurityGroupRule alike). A group "
    "attached only to read replicas of an instance may also admit application security groups: RDS Proxy "
    "cannot target such replicas, so they are the read path.",
    (INSTANCE, CLUSTER),
    _check_ingress_from_proxy,
    severity=Severity.HIGH,
    schema=string_list_schema(
        "allowedSourceSecurityGroupIds",
        "Security group ids outside the stack that may reach databases (for example a proxy managed by another stack).",
        pattern="^sg-[0-9a-f]{8,17}$",
    ),
    remediation="Allow ingress to the primary's security group only from the proxy's security group and point "
    "applications at the proxy; put read replicas in a group of their own for direct reads.",
)


RDS_NO_CIDR_INGRESS = stack_policy(
    "rds-no-cidr-ingress",
    "Security groups of RDS databases do not open the database port to CIDR ranges or prefix lists.",
    (INSTANCE, CLUSTER),
    _check_cidr_ingress,
    severity=Severity.CRITICAL,
    schema=string_list_schema(
        "allowedCidrs",
        "CIDR ranges that may reach the database port directly (none by default).",
        pattern="^[0-9a-fA-F:.]+/[0-9]{1,3}$",
    ),
    remediation="Replace CIDR ingress with ingress from the RDS Proxy security group.",
)


RDS_NOT_PUBLICLY_ACCESSIBLE = resource_policy(
    "rds-not-publicly-accessible",
    "RDS instances are not publicly accessible.",
    (INSTANCE,),
    _check_public,
    severity=Severity.CRITICAL,
    remediation="Set publiclyAccessible = false.",
)


RDS_SECURITY_GROUPS_SET = resource_policy(
    "rds-security-groups-set",
    "RDS instances (read replicas too) and clusters list their security groups: with vpcSecurityGroupIds omitted "
    "or empty, RDS attaches the VPC's default group, whose members (anything launched without a group) reach the "
    "database around the proxy.",
    (INSTANCE, CLUSTER),
    _check_groups_set,
    severity=Severity.CRITICAL,
    remediation="Create a security group for the database that admits only the RDS Proxy's group, and list it "
    "in vpcSecurityGroupIds.",
)


RDS_NOT_IN_DEFAULT_SECURITY_GROUP = stack_policy(
    "rds-not-in-default-security-group",
    "RDS instances and clusters do not list the VPC's default security group (an adopted "
    "aws.ec2.DefaultSecurityGroup or the VPC's defaultSecurityGroupId) in vpcSecurityGroupIds: every member of "
    "that group (anything launched without a group) reaches the database.",
    (INSTANCE, CLUSTER),
    _check_default_group,
    severity=Severity.CRITICAL,
    remediation="Create a security group for the database that admits only the RDS Proxy's group, and list it "
    "in vpcSecurityGroupIds instead of the default group.",
)


RDS_ADMITS_PROXY = stack_policy(
    "rds-admits-proxy",
    "A database that an RDS Proxy targets admits that proxy: some security group of the database allows TCP on "
    "the database port from a security group of the proxy.",
    (PROXY_TARGET,),
    _check_admits_proxy,
    severity=Severity.HIGH,
    remediation="Add an ingress rule on the database's security group from the proxy's security group on the "
    "database port.",
)


RDS_SUBNET_GROUP_TWO_AZS = stack_policy(
    "rds-subnet-group-two-azs",
    "DB subnet groups cover at least two Availability Zones (RDS refuses them otherwise).",
    (SUBNET_GROUP,),
    _check_subnet_group,
    severity=Severity.HIGH,
    remediation="List subnets from two or more Availability Zones in the DB subnet group.",
)


RDS_INGRESS_DATABASE_PORT_ONLY = stack_policy(
    "rds-ingress-database-port-only",
    "Ingress into database security groups opens TCP on the database port only, not every protocol or a port range.",
    (INSTANCE, CLUSTER),
    _check_port_only,
    severity=Severity.LOW,
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation="Use ipProtocol tcp with fromPort = toPort = the database port.",
)

"""Figures of the failover drill: per client, its outage against the server's, losses, duplicates, errors, targets.

Client outage = last acknowledged write before the fault to the first one after
(from the new primary); server outage = fault to the first write the new primary
accepted; an acknowledged write missing on the new primary is *lost*; a
(client, seq) present twice is a *duplicate*.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.drill import DrillRecord

#: Extra client outage allowed over the server-side outage (issue 5's targets for dbclient).
TARGET_EXTRA_S = {"crash": 1.0, "netloss": 3.0, "hang": 3.0}
#: Width of one timeline bin.
BIN_S = 0.1


def failover_figures(record: DrillRecord) -> dict[str, Any]:
    """Per client: outage against the server's, acknowledged writes lost or duplicated, errors surfaced, target met."""
    ev, logs, stored, capped = record.events, record.logs, record.stored, record.capped
    t0 = ev["fault"]
    first_write = ev.get("first_write_new_primary")
    server_outage = first_write - t0 if first_write is not None else None
    end = ev["stopped"]
    clients = {}
    for log, writer in logs:
        # Acknowledgements that arrive after the stop (a released, capped client finishing) do not count.
        ack_times = [t for _, t in log.acks if t <= end]
        # The old primary can still deliver acknowledgements already in flight when the fault hits, and the
        # standby accepts no write before its promotion starts: so the first acknowledgement at or after the
        # start of the promotion is the first one from the new primary.
        promote_start = ev.get("promote_start", end)
        after = [t for t in ack_times if t >= promote_start]
        in_flight = [t for t in ack_times if ev["fault"] <= t < promote_start]
        first_after = after[0] if after else None
        before = [t for t in ack_times if first_after is None or t < first_after]
        last_before = before[-1] if before else None
        if first_after is not None and last_before is not None:
            outage = first_after - last_before
        elif last_before is not None:
            outage = end - last_before  # capped: a lower bound
        else:
            outage = None
        acked = {seq for seq, _ in log.acks}  # all of them, for the loss check
        lost = sorted(seq for seq in acked if (log.name, seq) not in stored)
        dups = sorted(seq for (client, seq), count in stored.items() if client == log.name and count > 1)
        unacked_committed = sorted(seq for (client, seq) in stored if client == log.name and seq not in acked)
        errors = [e.message for e in log.errors if e.at <= end]  # not the ones our teardown provokes
        error_kinds: dict[str, int] = {}
        for message in errors:
            kind = message.split(":", 1)[0]
            error_kinds[kind] = error_kinds.get(kind, 0) + 1
        samples: list[str] = []
        for message in errors:
            if message not in samples and len(samples) < 4:
                samples.append(message)
        extra = None if outage is None or server_outage is None else outage - server_outage
        figures: dict[str, Any] = {
            "acked_writes": len(acked),
            "attempted_writes": log.attempted,
            "client_outage_s": round_s(outage),
            "server_outage_s": round_s(server_outage),
            "difference_s": round_s(extra),
            "last_ack_before_fault_s": round_s(last_before - t0 if last_before is not None else None),
            "first_ack_after_fault_s": round_s(first_after - t0 if first_after is not None else None),
            "capped": capped.get(log.name, False),
            "acks_after_fault_before_promotion": len(in_flight),
            "acked_after_promotion": len(after),
            "lost_acked_writes": len(lost),
            "lost_seqs": lost[:20],
            "duplicates": len(dups),
            "duplicate_seqs": dups[:20],
            "committed_but_not_acked": len(unacked_committed),
            "errors_surfaced": len(errors),
            # run_transaction's on_retry calls (a lost COMMIT resolved through the idempotency key is not one).
            "on_retry_calls": getattr(writer, "retries", None),
            "error_kinds": error_kinds,
            "error_samples": samples,
            "timeline_per_100ms": bins([t - t0 for t in ack_times], ev["setup_done"] - t0, end - t0),
        }
        if log.name.startswith("dbclient"):
            target = TARGET_EXTRA_S[record.fault]
            figures["target_extra_s"] = target
            figures["meets_target"] = bool(
                extra is not None and not figures["capped"] and extra <= target
                and not lost and not dups
            )
        clients[log.name] = figures
    return {
        "fault": record.fault,
        "topology": record.topology,
        "detection_delay_s": record.cfg.detection_delay_s,
        "cap_s": record.cfg.cap_s,
        "server_outage_s": round_s(server_outage),
        "events_s": {k: round_s(v - t0) for k, v in ev.items()},
        "timeline_start_s": round_s(ev["setup_done"] - t0),
        "writer_reached_new_primary": first_write is not None,
        "clients": clients,
        "notes": record.notes,
    }


def round_s(value: float | None) -> float | None:
    """*value* to the millisecond (None stays None)."""
    return None if value is None else round(value, 3)


def bins(times: Sequence[float], start: float, end: float, width_s: float = BIN_S) -> list[int]:
    """Counts of *times* per bin of *width_s*, from the bin holding *start* to the one holding *end*."""
    first = int(start // width_s)
    counts = [0] * max(1, int(end // width_s) - first + 1)
    for t in times:
        index = int(t // width_s) - first
        if 0 <= index < len(counts):
            counts[index] += 1
    return counts

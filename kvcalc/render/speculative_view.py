"""`estimate --draft`: the target, its speculative slots and the draft, each sized."""

from __future__ import annotations

import json
import sys

from typing_extensions import TypedDict

from kvcalc.planning.speculative import Speculation
from kvcalc.render.record_types import EstimateRecord
from kvcalc.render.records import estimate_record
from kvcalc.units import format_bytes, format_size


class SpeculationRecord(TypedDict):
    spec_tokens: int
    target: EstimateRecord
    draft: EstimateRecord
    target_slot_bytes: int
    draft_bytes: int
    extra_bytes: int
    total_bytes: int


def speculation_record(plan: Speculation) -> SpeculationRecord:
    return {
        "spec_tokens": plan.spec_tokens,
        "target": estimate_record(plan.target),
        "draft": estimate_record(plan.draft),
        "target_slot_bytes": plan.slot_bytes,
        "draft_bytes": plan.draft.total_bytes,
        "extra_bytes": plan.extra_bytes,
        "total_bytes": plan.total_bytes,
    }


def render_speculation(plan: Speculation, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(speculation_record(plan), indent=2), file=sys.stdout)
        return
    from rich.table import Table

    from kvcalc.render.console import stdout_console, table_box
    from kvcalc.render.safe_text import LINE_MAX_CHARS, table_value

    console = stdout_console()
    workload = plan.target.workload
    title = (f"Speculative decoding: {plan.target.source.name} with draft "
             f"{plan.draft.source.name}, {plan.spec_tokens} tokens ahead")  # fmt: skip
    table = Table(
        title=table_value(title, LINE_MAX_CHARS),
        box=table_box(console), title_justify="left",
    )  # fmt: skip
    for column in ("cache", "tokens per sequence", "size", "bytes"):
        table.add_column(column, justify="left" if column == "cache" else "right")
    ahead = workload.seq_len + plan.spec_tokens
    rows = [
        ("target", f"{workload.seq_len:,}", plan.target.total_bytes),
        (f"target's {plan.spec_tokens} speculative slots", f"+{plan.spec_tokens}", plan.slot_bytes),
        ("draft", f"{ahead:,}", plan.draft.total_bytes),
        ("extra for speculation", "", plan.extra_bytes),
        ("total", "", plan.total_bytes),
    ]
    for name, tokens, size in rows:
        table.add_row(name, tokens, format_size(size), format_bytes(size))
    console.print(table)

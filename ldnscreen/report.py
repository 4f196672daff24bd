"""What the command line shows a reviewer: rich tables for imports, duplicates and status."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["print_import", "print_dedupe_plan", "print_status"]


def print_import(console: Console, report) -> None:
    """One row per imported file, then the totals and why records were skipped."""
    table = Table(title="Import", show_lines=False)
    for col in ("file", "format", "database", "read", "added", "already in review", "skipped"):
        table.add_column(col, justify="right" if col in ("read", "added", "already in review", "skipped") else "left")
    for s in report.summaries:
        table.add_row(escape(s.file), s.format, s.database, str(s.records_read), str(s.records_added),
                      str(s.already_present), str(s.skipped))
    console.print(table)
    console.print(f"{report.added} new records; {report.skipped} skipped")
    again = [s.file for s in report.summaries if s.already_imported]
    if again:
        console.print(f"already imported, nothing added: {escape(', '.join(again))}", highlight=False)
    for s in report.summaries:
        for reason in s.skipped_reasons[:20]:
            console.print(f"  skipped in {escape(s.file)}: {escape(reason)}", highlight=False)
        if len(s.skipped_reasons) > 20:
            console.print(f"  ... and {len(s.skipped_reasons) - 20} more in {escape(s.file)}")


def _short(text: str, n: int = 70) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def print_dedupe_plan(console: Console, plan, show: int = 20) -> None:
    """The duplicate groups found, primary first, with the databases each member came from."""
    if not plan.groups:
        console.print("no duplicates found")
        return
    for n, (primary, members, rule, score) in enumerate(plan.groups[:show], start=1):
        table = Table(title=f"group {n}: {rule} (score {score:.2f})", title_justify="left", show_header=True)
        table.add_column("", width=7)
        table.add_column("title")
        table.add_column("year", justify="right")
        table.add_column("first author")
        table.add_column("doi")
        table.add_column("from")
        for i, m in enumerate(members):
            table.add_row("primary" if i == 0 else "merge", escape(_short(m.title)), str(m.year or ""),
                          escape(m.first_author), escape(m.doi), escape(", ".join(
                              f"{p.database}:{p.file}#{p.position + 1}" for p in m.provenance)))
        console.print(table)
    if len(plan.groups) > show:
        console.print(f"... and {len(plan.groups) - show} more groups")
    console.print(f"{len(plan.groups)} duplicate groups; {plan.records_to_merge} records would be merged")


def print_status(console: Console, counts: dict, store=None, as_json: bool = False) -> None:
    """Records per source, duplicates removed, screening progress per stage, stop decisions."""
    extra = _stopping(store)
    if as_json:
        console.print_json(json.dumps({**counts, "stopping": extra}, default=str))
        return
    table = Table(title=f"Review {escape(counts['name'])} ({escape(counts['path'])})", show_header=False)
    table.add_column("what")
    table.add_column("n", justify="right")
    for db, n in counts["by_database"].items():
        table.add_row(f"records from {escape(db)}", str(n))
    table.add_row("records identified", str(counts["identified"]))
    table.add_row("duplicates removed", str(counts["duplicates_removed"]))
    table.add_row("  identical citations at import", str(counts["identical_at_import"]))
    table.add_row("  merged by dedupe", str(counts["merged_by_dedupe"]))
    table.add_row("records to screen", str(counts["after_duplicates_removed"]))
    if counts["skipped_at_import"]:
        table.add_row("bad records skipped at import", str(counts["skipped_at_import"]))
    for stage in ("title-abstract", "full-text"):
        c = counts[stage]
        table.add_row(f"{stage}: screened", str(c["screened"]))
        table.add_row(f"{stage}: included / excluded", f"{c['included']} / {c['excluded']}")
        table.add_row(f"{stage}: left", str(c["left"]))
        for reason, n in sorted(c["exclusion_reasons"].items(), key=lambda kv: -kv[1]):
            table.add_row(f"  excluded: {escape(reason)}", str(n))
    console.print(table)
    if extra:
        console.print(escape(extra["message"]), highlight=False)
    for s in counts.get("stops", []):
        p = "" if s["p_value"] is None else f", p = {s['p_value']:.4g}"
        console.print(f"stopped {s['stage']} at {s['decided_at'][:19]} by rule {escape(s['rule'])} "
                      f"{escape(json.dumps(s['params']))}{p}", highlight=False)


def _stopping(store) -> dict | None:
    """The stopping estimate for the title/abstract stage, when screening has started."""
    if store is None:
        return None
    from .stopping import describe_estimate, stopping_estimate

    labels = [1 if d.label == "include" else 0 for d in store.current_labels("title-abstract").values()]
    if not labels:
        return None
    estimate = stopping_estimate(labels, n_total=len(store.active_ids()))
    return {"message": describe_estimate(estimate), "estimate": estimate}

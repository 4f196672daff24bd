"""The main job on the shipped example: the low-dose naltrexone review from search exports to PRISMA.

``ldnscreen demo`` runs, on the illustrative records in ``corpora/ldn_review/demo``
(written by the ldnscreen team; not real studies), every step a review team
takes with ldnscreen:

1. ``init`` a review with the LDN criteria, ``import`` the PubMed, Embase and
   Web of Science exports, ``dedupe`` across them;
2. show the screening queue before any decision (the criteria prior);
3. screen titles and abstracts in queue order, a scripted reviewer answering
   from ``labels.csv``, until the statistical stopping rule says recall of
   95 % is reached with 95 % confidence (or the queue is empty), and record
   the stop decision;
4. screen the full texts of the included records;
5. export the decisions (RIS, CSV, XLSX), pre-fill the abstraction table for
   the included studies, and draw the PRISMA flow diagram.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

__all__ = ["DEMO_DIR", "CRITERIA_FILE", "DemoResult", "run_demo"]

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "corpora" / "ldn_review" / "demo"
CRITERIA_FILE = ROOT / "corpora" / "ldn_review" / "criteria.toml"
EXPORTS = ("pubmed.nbib", "embase.ris", "wos.txt")


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs and what it counted."""

    review: Path
    outputs: tuple[Path, ...]
    screened: int
    included_title_abstract: int
    included_full_text: int
    stopped_early_by: str | None
    first_relevant_ranks: tuple[int, ...]


def _reviewer_answers(labels_csv: Path) -> dict[tuple[str, str], dict]:
    """(file, source id) -> the decision a reviewer makes for that record, from ``labels.csv``."""
    with open(labels_csv, newline="", encoding="utf-8") as f:
        return {(row["file"], row["source_id"]): row for row in csv.DictReader(f)}


def _answer(record, answers: dict) -> dict:
    for prov in record.provenance:
        row = answers.get((prov.file, prov.source_id))
        if row is not None:
            return row
    raise KeyError(f"labels.csv has no answer for record {record.id} ({record.title[:60]!r})")


def run_demo(out: str | Path = "demo-output", *, console: Console | None = None,
             demo_dir: Path = DEMO_DIR, criteria: Path = CRITERIA_FILE) -> DemoResult:
    """Run the whole LDN example into folder ``out`` (a previous demo review there is replaced)."""
    from .commands import apply_dedupe, import_exports, init_review, plan_dedupe, review_status
    from .report import print_dedupe_plan, print_import, print_status
    from .review import Review

    console = console or Console()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    review_file = out / "ldn-review.ldnscreen"
    for suffix in ("", "-wal", "-shm"):
        Path(str(review_file) + suffix).unlink(missing_ok=True)

    console.rule("1. import and deduplicate the search exports")
    store = init_review(review_file, criteria)
    print_import(console, import_exports(store, [demo_dir / name for name in EXPORTS]))
    plan = plan_dedupe(store)
    print_dedupe_plan(console, plan, show=2)
    merge = apply_dedupe(store, plan)
    console.print(f"merged {merge.records_merged} duplicate records into {merge.groups} groups")
    store.close()

    answers = _reviewer_answers(demo_dir / "labels.csv")
    stopped_by, first_ranks, outputs = None, [], []
    with Review.open(review_file) as review:
        console.rule("2. the queue before any decision: ranked by the review's criteria")
        _print_queue(console, review.next(8))

        console.rule("3. title/abstract screening in queue order (scripted reviewer from labels.csv)")
        from .stopping import BuscarRule

        rule = BuscarRule(target_recall=0.95, confidence=0.95)
        position = 0
        while True:
            head = review.next(1)
            if not head:
                break
            item = head[0]
            position += 1
            row = _answer(item.record, answers)
            passes = row["decision"] == "include" or row["stage"] == "full-text"
            if passes:
                first_ranks.append(position)
                review.decide(item.record.id, "include", reviewer="demo")
            else:
                review.decide(item.record.id, "exclude", reason=row["reason"] or None, reviewer="demo")
            labels, n_total = review.stopping_inputs()
            check = rule.check(labels, n_total)
            if check.stop and len(labels) < n_total:
                review.store.record_stop(rule.name, rule.params, check.p_value, recall_estimate=None,
                                         reviewer="demo")
                stopped_by = rule.name
                console.print(f"stopping rule {rule.name} fired after {len(labels)} of {n_total} records: "
                              f"{check.message}", highlight=False)
                break
        estimate = review.stopping_estimate()
        if estimate is not None:
            from .stopping import describe_estimate

            console.print(describe_estimate(estimate), highlight=False)
        console.print(f"relevant records (passing title/abstract) were found at queue positions {first_ranks}")

        console.rule("4. full-text screening of the included records")
        for rid in [rid for rid, d in review.current_labels("title-abstract").items() if d.label == "include"]:
            row = _answer(review.store.record(rid), answers)
            if row["decision"] == "include":
                review.decide(rid, "include", stage="full-text", reviewer="demo")
            else:
                review.decide(rid, "exclude", stage="full-text", reason=row["reason"] or None, reviewer="demo")
        ta = review.progress("title-abstract")
        ft = review.progress("full-text")
        print_status(console, review_status(review.store), store=review.store)

        console.rule("5. export, abstraction table and PRISMA flow")
        from .commands import export_review
        from .prisma import draw_prisma, prisma_counts

        for fmt in ("ris", "csv", "xlsx"):
            path = out / f"ldn-review-decisions.{fmt}"
            export_review(review.store, path, format=fmt)
            outputs.append(path)
        included = [review.store.record(rid) for rid, d in review.current_labels("full-text").items()
                    if d.label == "include"]
        outputs.append(_extraction_table(included, out / "abstraction-table.xlsx", console))
        flow = prisma_counts(review.store)
        outputs.append(draw_prisma(flow, out / "prisma.png"))
        (out / "prisma.json").write_text(json.dumps(flow.to_dict(), indent=2))
        outputs.append(out / "prisma.json")
    for path in outputs:
        console.print(f"wrote {path}")
    return DemoResult(review_file, tuple(outputs), ta.screened, ta.included, ft.included, stopped_by,
                      tuple(first_ranks))


def _print_queue(console: Console, items) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    for col in ("rank", "score", "title", "suggested exclusion", "terms"):
        table.add_column(col)
    for item in items:
        table.add_row(str(item.rank), f"{item.score:.3f}", item.record.title[:70], item.suggested_reason or "",
                      ", ".join(item.top_terms[:4]))
    console.print(table)


def _extraction_table(records, path: Path, console: Console) -> Path:
    from .extract import extract_records, write_table

    extractions = extract_records(records)
    write_table(extractions, path)
    console.print(f"abstraction table pre-filled for {len(extractions)} included studies")
    return path

"""The ``ldnscreen`` command line: a thin typer front over the library.

Each command parses its arguments, calls one library function and prints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    help="ML-assisted screening for systematic reviews: import, deduplicate, rank, screen, stop, extract.",
    no_args_is_help=True,
    add_completion=False,
)

REVIEW_ARG = typer.Argument(..., help="Review name or path (NAME or NAME.ldnscreen).")
console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _open(review: str, *, readonly: bool = False):
    """The open review; ``readonly`` for commands that only read it (they work on a read-only file)."""
    from .store import ReviewStore, StoreError

    try:
        store = ReviewStore.open(review, readonly=readonly)
    except StoreError as exc:
        _fail(str(exc))
    try:
        yield store
    finally:
        store.close()


#: SQLite errors about the review file itself (not about a query): reported as one line naming the file.
_FILE_ERRORS = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_BUSY",
                "SQLITE_LOCKED", "SQLITE_READONLY")


@contextmanager
def _clear_errors(review: Optional[str] = None):
    """Turn the library's expected errors into one-line messages and exit code 1.

    With ``review``, SQLite's errors about that file (damaged, disk full,
    I/O) are reported naming it, too.
    """
    import sqlite3

    from .io import ReadError
    from .store import StoreError, review_path

    try:
        yield
    except (ReadError, StoreError, ValueError) as exc:
        _fail(str(exc))
    except sqlite3.DatabaseError as exc:
        if review is None or not getattr(exc, "sqlite_errorname", "").startswith(_FILE_ERRORS):
            raise
        _fail(f"{review_path(review)}: {exc}")


@app.command()
def init(
    review: str = REVIEW_ARG,
    criteria: Optional[Path] = typer.Option(None, "--criteria", "-c", help="Criteria file (TOML), e.g. corpora/ldn_review/criteria.toml."),
) -> None:
    """Create a new review: one SQLite file NAME.ldnscreen."""
    from .commands import init_review

    with _clear_errors(review):
        store = init_review(review, criteria)
    console.print(f"created [bold]{store.path}[/]" + (f" with criteria from {criteria}" if criteria else ""))
    store.close()


@app.command("import")
def import_(
    review: str = REVIEW_ARG,
    files: list[Path] = typer.Argument(..., help="Exports: MEDLINE (.nbib/.txt), PubMed XML, RIS, Web of Science, CSV/TSV/XLSX."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Import the good records of a file with some bad ones, and report the bad."),
    format: Optional[str] = typer.Option(None, "--format", help="Force the format instead of detecting it."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Text encoding when the file is not UTF-8 (e.g. latin-1, utf-16-le)."),
) -> None:
    """Import search exports into a review (re-importing a file adds nothing)."""
    from .commands import import_exports
    from .report import print_import

    with _open(review) as store, _clear_errors(review):
        report = import_exports(store, files, skip_bad=skip_bad, format=format, encoding=encoding)
        print_import(console, report)


@app.command()
def dedupe(
    review: str = REVIEW_ARG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Merge without asking (for scripts)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show the duplicate groups."),
    undo: Optional[int] = typer.Option(None, "--undo", help="Undo the merge with this group id (0 = the latest)."),
    show: int = typer.Option(20, "--show", help="How many groups to show in full."),
) -> None:
    """Find duplicates across databases, show the groups, and merge them keeping provenance."""
    from .commands import apply_dedupe, plan_dedupe
    from .report import print_dedupe_plan

    with _open(review) as store, _clear_errors(review):
        if undo is not None:
            gid = store.undo_merge(undo or None)
            console.print(f"undid merge {gid}")
            return
        plan = plan_dedupe(store, progress=True)
        print_dedupe_plan(console, plan, show=show)
        _warn_decision_conflicts(store, plan)
        if not plan.groups or dry_run:
            return
        if not yes and not typer.confirm(f"Merge {len(plan.groups)} groups ({plan.records_to_merge} records)?"):
            console.print("nothing merged")
            return
        summary = apply_dedupe(store, plan)
        console.print(f"merged {summary.records_merged} records into {summary.groups} groups "
                      f"(undo with `ldnscreen dedupe {review} --undo GROUP`)")


def _warn_decision_conflicts(store, plan) -> None:
    """Say which planned groups hold copies decided differently, and which decision will stand."""
    from .store import STAGES

    groups = [[m.id for m in members] for _, members, _, _ in plan.groups]
    titles = {members[0].id: members[0].title for _, members, _, _ in plan.groups}
    for stage in STAGES:
        for conflict in store.decision_conflicts(groups, stage):
            decided = sorted(conflict["decisions"].values(), key=lambda d: d.id)
            said = "; ".join(f"{d.label} ({d.reviewer or 'no reviewer'}, {d.record_id})" for d in decided)
            title = titles.get(conflict["record_ids"][0], "")
            err.print(f"warning: the copies of {title[:60]!r} were decided differently at {stage}: {said}. "
                      f"Merged, the latest ({decided[-1].label}) stands; relabel the record if that is wrong "
                      "(every decision stays in the log).", highlight=False)


@app.command()
def status(
    review: str = REVIEW_ARG,
    format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Records per source, duplicates removed, screened / included / left per stage."""
    from .commands import review_status
    from .report import print_status

    if format not in ("table", "json"):
        _fail(f"--format must be table or json, not {format!r}")
    with _open(review, readonly=True) as store, _clear_errors(review):
        print_status(console, review_status(store), store=store, as_json=(format == "json"))


@app.command()
def export(
    review: str = REVIEW_ARG,
    out: Path = typer.Option(..., "--out", "-o", help="Output file (.ris, .csv, .tsv or .xlsx)."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="ris, csv, tsv or xlsx (default: from the extension)."),
    stage: Optional[str] = typer.Option(None, "--stage", help="Only write decisions of this stage."),
) -> None:
    """Write the review's records with their decisions (RIS, CSV or XLSX)."""
    from .commands import export_review

    with _open(review, readonly=True) as store, _clear_errors(review):
        try:
            n = export_review(store, out, format=format, stage=stage)
        except OSError as exc:  # the review was read; the output could not be written
            _fail(f"{exc.filename or out}: cannot write the export ({exc.strerror or exc})")
    console.print(f"wrote {n} records to {out}")


@app.command()
def prisma(
    review: str = REVIEW_ARG,
    out: Path = typer.Option(Path("prisma.png"), "--out", "-o", help="Flow diagram file (.png, .svg or .pdf); counts go beside it as .json."),
) -> None:
    """PRISMA 2020 flow counts of the review, printed and drawn as a flow diagram."""
    import json

    from .prisma import draw_prisma, prisma_counts

    with _open(review, readonly=True) as store, _clear_errors(review):
        flow = prisma_counts(store)
    try:
        draw_prisma(flow, out)
        out.with_suffix(".json").write_text(json.dumps(flow.to_dict(), indent=2))
    except OSError as exc:
        _fail(f"{exc.filename or out}: cannot write the flow diagram ({exc.strerror or exc})")
    console.print_json(json.dumps(flow.to_dict()))
    console.print(f"flow diagram written to {out}")


@app.command()
def queue(
    review: str = REVIEW_ARG,
    n: int = typer.Option(20, "-n", help="How many records."),
    format: str = typer.Option("table", "--format", help="table, csv or json."),
    stage: str = typer.Option("title-abstract", "--stage", help="title-abstract or full-text."),
) -> None:
    """Show the next records in priority order, with score, suggested exclusion reason and top terms."""
    from .session import show_queue

    with _clear_errors(review):
        show_queue(review, n=n, format=format, stage=stage, console=console)


@app.command()
def screen(
    review: str = REVIEW_ARG,
    reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Your name or initials, kept with each decision."),
    stage: str = typer.Option("title-abstract", "--stage", help="title-abstract or full-text."),
) -> None:
    """Screen records one at a time in the terminal: i include, e exclude, s skip, u undo, n note, q quit."""
    from .session import run_session

    with _clear_errors(review):
        run_session(review, reviewer=reviewer, stage=stage, console=console)


@app.command()
def label(
    review: str = REVIEW_ARG,
    file: Path = typer.Argument(..., help="Decisions made elsewhere: CSV, TSV or XLSX with a label column, or an RIS export with ASReview's decisions."),
    stage: str = typer.Option("title-abstract", "--stage", help="title-abstract or full-text."),
    reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Reviewer recorded for rows without a reviewer column."),
    column: Optional[str] = typer.Option(None, "--column", help="The label column (default: decision, label, included, ...)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Match and report; write nothing."),
) -> None:
    """Import decisions from another tool or a colleague's spreadsheet, all in one transaction."""
    from .labels_import import import_decisions

    with _open(review) as store, _clear_errors(review):
        report = import_decisions(store, file, stage=stage, reviewer=reviewer, label_column=column, dry_run=dry_run)
    console.print(report.summary(), highlight=False, markup=False, soft_wrap=True)


@app.command()
def extract(
    source: str = typer.Argument(..., help="Review (NAME or NAME.ldnscreen) or an export file (RIS, MEDLINE, CSV...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Abstraction table to write (.xlsx or .csv)."),
    included_only: bool = typer.Option(False, "--included-only", help="Only included records (full-text includes if any, else title-abstract)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Extraction pipeline directory (default: models/ldnscreen_extract)."),
) -> None:
    """Pre-fill the abstraction table: study type, sample size, doses and conditions with their sentences."""
    from .extract.table import extract_table

    with _clear_errors():
        n = extract_table(source, out, included_only=included_only, model=model)
    console.print(f"wrote {n} rows to {out}")


@app.command()
def simulate(
    data: Path = typer.Argument(..., help="Labelled file: CSV with title, abstract, label_included..., or an ldnscreen or ASReview export with decisions."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for order.csv, metrics.json and recall.png."),
    seed: int = typer.Option(0, "--seed", help="Seed for the priors and the learner."),
    prior_included: int = typer.Option(1, "--prior-included", help="Relevant records labelled before the first training."),
    prior_excluded: int = typer.Option(1, "--prior-excluded", help="Irrelevant records labelled before the first training."),
    label: str = typer.Option("label_included", "--label", help="Label column to simulate, e.g. label_abstract_screening."),
    stop: str = typer.Option("last-relevant", "--stop", help="last-relevant, all, or a number of records (priors not counted)."),
    stopping: Optional[str] = typer.Option(None, "--stopping", help="Stopping rules to replay, e.g. buscar,knee,consecutive:50."),
    criteria: Optional[Path] = typer.Option(None, "--criteria", "-c", help="Criteria file (TOML) ranking the records before the first labels; with --prior-included 0 --prior-excluded 0 the review starts from it alone."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Several seeds instead of --seed, e.g. 0-4 or 0,3,7: OUT/seed-S per seed, and summary.csv, summary.json and recall.png over them."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Text encoding when the file is not UTF-8 (e.g. latin-1)."),
    priors: Optional[str] = typer.Option(None, "--priors", help="The prior records by record_id (row number from 0 where there is none), e.g. R12,R40, in place of drawing --prior-included and --prior-excluded at random."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="CSV, TSV or XLSX of labels or decisions for DATA's records, matched by record id, DOI, PMID or title: for exports that carry no labels (MEDLINE, PubMed XML, Web of Science)."),
) -> None:
    """Simulate screening a labelled dataset and score the order (WSS@95, recall, ATD, loss)."""
    from rich.table import Table

    from .simulate import SUMMARY_METRICS, parse_seeds, simulate_file, simulate_seeds, summarise

    if stop not in ("last-relevant", "all") and not stop.isdigit():
        _fail(f"--stop must be last-relevant, all or a number, got {stop!r}")
    _check_out_folder(out)
    options = dict(label=label, prior_included=prior_included, prior_excluded=prior_excluded,
                   stop=int(stop) if stop.isdigit() else stop, stopping=stopping, criteria=criteria, encoding=encoding,
                   prior_ids=None if priors is None else [p.strip() for p in priors.split(",") if p.strip()],
                   labels_file=labels)
    with _clear_errors():
        try:
            if seeds is not None:
                results = simulate_seeds(data, out, parse_seeds(seeds), **options)
            else:
                results = [simulate_file(data, out, seed=seed, **options)]
        except OSError as exc:  # writing the outputs (reading errors are ReadErrors)
            _fail(f"{exc.filename or out}: cannot write the outputs ({exc.strerror or exc})")
    if "labels_file" in results[0].settings:
        err.print(results[0].settings["labels_file"], highlight=False)
    left_out = results[0].settings.get("records_without_label")
    if left_out:
        err.print(f"{left_out} record{'s' if left_out != 1 else ''} of {data.name} {'have' if left_out != 1 else 'has'} no {label} and {'were' if left_out != 1 else 'was'} left out")
    if "record_ids" in results[0].settings:
        err.print(f"{data.name}: order.csv names records by {results[0].settings['record_ids']}", highlight=False)
    if seeds is not None:
        table = Table(title=f"{data.name}: {len(results)} seeds", title_justify="left")
        for column in ("", "mean", "sd", "min", "max"):
            table.add_column(column, justify="right" if column else "left")
        summary = summarise(results)
        for name in (*SUMMARY_METRICS, "n_screened", "wall_seconds"):
            s = summary[name]
            table.add_row(name, *(f"{s[k]:.3f}" for k in ("mean", "sd", "min", "max")))
        console.print(table)
        console.print(f"wrote {out}/seed-S/ for each seed and {out}/summary.csv, summary.json, recall.png")
        if summary["undecided_metrics"]:
            err.print(f"some seeds stopped before their last relevant record: {', '.join(summary['undecided_metrics'])} "
                      "are pessimistic bounds there (summary.json: undecided_metrics)", highlight=False)
        return
    result = results[0]
    m = result.metrics
    console.print(
        f"{m['n_records']} records, {m['n_relevant']} relevant (priors excluded): WSS@95 {m['wss_95']:.3f}, "
        f"RRF@10 {m['rrf_10']:.3f}, ATD {m['atd']:.1f}, loss {m['loss']:.3f}, {result.wall_seconds:.1f} s; wrote {out}"
    )
    _warn_undecided(result)


def _check_out_folder(out: Path) -> None:
    """Stop before any work when ``out`` cannot become the output folder (nothing is created here)."""
    if out.exists() and not out.is_dir():
        _fail(f"--out {out}: a file of that name exists; name a folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        _fail(f"--out {out}: cannot make a folder in {parent}")


def _warn_undecided(result) -> None:
    """Say which metrics of a simulation stopped before its last relevant record are bounds, not measurements."""
    from .simulate import undecided

    names = undecided(result)
    if names:
        found = sum(result.screened_labels)
        err.print(f"stopped after {len(result.screened_labels)} records with {found} of {result.metrics['n_relevant']} "
                  f"relevant found: {', '.join(names)} count the unscreened relevant records as coming last "
                  "(pessimistic bounds; metrics.json lists them under undecided_metrics)", highlight=False)


@app.command()
def convert(
    source: Path = typer.Argument(..., help="Export to read (MEDLINE, PubMed XML, RIS, Web of Science, CSV, TSV, XLSX)."),
    out: Path = typer.Argument(..., help="File to write; .ris, .nbib, .xml, .csv, .tsv, .xlsx imply the format."),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="Format of SOURCE (default: detected from its content)."),
    to: Optional[str] = typer.Option(None, "--to", "-t", help="Format of OUT, e.g. ris, ris-embase, wos-tab, csv (default: from its extension)."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Text encoding of SOURCE, e.g. latin-1 or utf-16-le."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave out unreadable records (listed) instead of stopping."),
) -> None:
    """Convert a bibliographic export to another format (e.g. Web of Science to RIS for Zotero)."""
    from .io import convert_file

    with _clear_errors():
        result = convert_file(source, out, format=format, to=to, encoding=encoding, skip_bad=skip_bad)
    for bad in result.skipped:
        err.print(f"skipped {escape(bad.location)}: {escape(bad.problem)}", highlight=False)
    console.print(f"wrote {len(result.records)} {result.database} records ({result.format}) to {out}", highlight=False)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for the demo review and its outputs."),
) -> None:
    """Run the whole low-dose naltrexone example: import, dedupe, rank, screen, stop, extract, PRISMA."""
    from .demo import run_demo

    with _clear_errors():
        result = run_demo(out, console=console)
    console.print(f"demo review: {result.review}")


@app.command()
def stop(
    review: str = REVIEW_ARG,
    rule: str = typer.Option("buscar", "--rule", help="Stopping rule: buscar[:target[:confidence]], knee, consecutive:N, share:F."),
    stage: str = typer.Option("title-abstract", "--stage", help="title-abstract or full-text."),
    reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Who decides to stop."),
    force: bool = typer.Option(False, "--force", help="Record the stop even when the rule does not say so (marked as forced)."),
) -> None:
    """Test a stopping rule on the decisions so far; record the stop decision when it fires."""
    from .commands import stop_screening

    with _open(review) as store, _clear_errors(review):
        outcome = stop_screening(store, rule, stage=stage, reviewer=reviewer, force=force)
    kind = "statistical guarantee" if outcome.guarantee else "heuristic, no guarantee"
    console.print(f"{outcome.rule} ({kind}) after {outcome.screened} of {outcome.total}: {escape(outcome.message)}",
                  highlight=False)
    if outcome.recorded:
        console.print("stop decision recorded" + ("" if outcome.stop else " (forced: the rule did not fire)"))
    else:
        console.print("keep screening: the stop was not recorded (use --force to record it anyway)")
        raise typer.Exit(2)


# --- end of commands ---


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

"""The ``ldnscreen`` command line: a thin typer front over the library.

Each command parses its arguments, calls one library function and prints.
"""

from __future__ import annotations

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
def _open(review: str):
    from .store import ReviewStore, StoreError

    try:
        store = ReviewStore.open(review)
    except StoreError as exc:
        _fail(str(exc))
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _clear_errors():
    """Turn the library's expected errors into one-line messages and exit code 1."""
    from .io import ReadError
    from .store import StoreError

    try:
        yield
    except (ReadError, StoreError, ValueError) as exc:
        _fail(str(exc))


@app.command()
def init(
    review: str = REVIEW_ARG,
    criteria: Optional[Path] = typer.Option(None, "--criteria", "-c", help="Criteria file (TOML), e.g. corpora/ldn_review/criteria.toml."),
) -> None:
    """Create a new review: one SQLite file NAME.ldnscreen."""
    from .commands import init_review

    with _clear_errors():
        store = init_review(review, criteria)
    console.print(f"created [bold]{store.path}[/]" + (f" with criteria from {criteria}" if criteria else ""))
    store.close()


@app.command("import")
def import_(
    review: str = REVIEW_ARG,
    files: list[Path] = typer.Argument(..., help="Exports: MEDLINE (.nbib/.txt), PubMed XML, RIS, Web of Science, CSV/TSV/XLSX."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Import the good records of a file with some bad ones, and report the bad."),
    format: Optional[str] = typer.Option(None, "--format", help="Force the format instead of detecting it."),
) -> None:
    """Import search exports into a review (re-importing a file adds nothing)."""
    from .commands import import_exports
    from .report import print_import

    with _open(review) as store, _clear_errors():
        report = import_exports(store, files, skip_bad=skip_bad, format=format)
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

    with _open(review) as store, _clear_errors():
        if undo is not None:
            gid = store.undo_merge(undo or None)
            console.print(f"undid merge {gid}")
            return
        plan = plan_dedupe(store, progress=True)
        print_dedupe_plan(console, plan, show=show)
        if not plan.groups or dry_run:
            return
        if not yes and not typer.confirm(f"Merge {len(plan.groups)} groups ({plan.records_to_merge} records)?"):
            console.print("nothing merged")
            return
        summary = apply_dedupe(store, plan)
        console.print(f"merged {summary.records_merged} records into {summary.groups} groups "
                      f"(undo with `ldnscreen dedupe {review} --undo GROUP`)")


@app.command()
def status(
    review: str = REVIEW_ARG,
    format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Records per source, duplicates removed, screened / included / left per stage."""
    from .commands import review_status
    from .report import print_status

    with _open(review) as store, _clear_errors():
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

    with _open(review) as store, _clear_errors():
        n = export_review(store, out, format=format, stage=stage)
    console.print(f"wrote {n} records to {out}")


@app.command()
def prisma(
    review: str = REVIEW_ARG,
    out: Path = typer.Option(Path("prisma.png"), "--out", "-o", help="Flow diagram file (.png, .svg or .pdf); counts go beside it as .json."),
) -> None:
    """PRISMA 2020 flow counts of the review, printed and drawn as a flow diagram."""
    import json

    from .prisma import draw_prisma, prisma_counts

    with _open(review) as store, _clear_errors():
        flow = prisma_counts(store)
    draw_prisma(flow, out)
    out.with_suffix(".json").write_text(json.dumps(flow.to_dict(), indent=2))
    console.print_json(json.dumps(flow.to_dict()))
    console.print(f"flow diagram written to {out}")


# --- end of commands ---


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

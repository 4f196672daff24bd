"""PRISMA 2020 flow counts of a review, as numbers and as a flow diagram.

The counts follow the PRISMA 2020 flow diagram for new systematic reviews
that searched databases (Page et al. 2021, BMJ 372:n71):

* Identification: records identified per database; records removed before
  screening (duplicates; records left unscreened because a stopping rule
  was applied, which PRISMA 2020 asks to report as removed by automation
  tools).
* Screening: records screened and excluded (title/abstract); reports
  assessed for eligibility (full text) and excluded, with reasons.
* Included: studies included in the review.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["PrismaFlow", "prisma_counts", "draw_prisma"]


@dataclass(frozen=True)
class PrismaFlow:
    """The PRISMA 2020 counts of one review."""

    identified_by_database: dict[str, int] = field(hash=False)
    identified: int
    duplicates_removed: int
    stopped_unscreened: int
    records_screened: int
    records_excluded: int
    reports_sought: int
    reports_assessed: int
    reports_excluded: int
    reports_excluded_reasons: dict[str, int] = field(hash=False)
    records_excluded_reasons: dict[str, int] = field(hash=False)
    reports_awaiting: int
    studies_included: int

    def to_dict(self) -> dict:
        return asdict(self)


def prisma_counts(store) -> PrismaFlow:
    """PRISMA 2020 counts from a :class:`~ldnscreen.store.ReviewStore`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from ldnscreen.store import ReviewStore
    >>> from ldnscreen.records import Record, Provenance
    >>> store = ReviewStore.create(pathlib.Path(tempfile.mkdtemp()) / "r")
    >>> recs = [Record(title=f"study {i}", provenance=(Provenance("pubmed", "p.nbib", i),)) for i in range(3)]
    >>> _ = store.add_records(recs, file_name="p.nbib", content=b"x", database="pubmed")
    >>> _ = store.decide(recs[0].id, "include"); _ = store.decide(recs[1].id, "exclude", reason="animal model")
    >>> flow = prisma_counts(store)
    >>> flow.identified, flow.records_screened, flow.records_excluded, flow.reports_sought
    (3, 2, 1, 1)
    >>> store.close()
    """
    counts = store.counts()
    ta, ft = counts["title-abstract"], counts["full-text"]
    stopped = counts["after_duplicates_removed"] - ta["screened"] if store.stops("title-abstract") else 0
    return PrismaFlow(
        identified_by_database=dict(counts["by_database"]),
        identified=counts["identified"],
        duplicates_removed=counts["duplicates_removed"],
        stopped_unscreened=stopped,
        records_screened=ta["screened"],
        records_excluded=ta["excluded"],
        reports_sought=ta["included"],
        reports_assessed=ft["screened"],
        reports_excluded=ft["excluded"],
        reports_excluded_reasons=dict(ft["exclusion_reasons"]),
        records_excluded_reasons=dict(ta["exclusion_reasons"]),
        reports_awaiting=max(ta["included"] - ft["screened"], 0),
        studies_included=ft["included"],
    )


def draw_prisma(flow: PrismaFlow, path: str | Path) -> Path:
    """Draw the PRISMA 2020 flow diagram to ``path`` (PNG, SVG or PDF by extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(11, 9.5))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.axis("off")

    def box(x, y, w, h, text, face="#ffffff"):
        ax.add_patch(plt.Rectangle((x, y), w, h, facecolor=face, edgecolor="#333333", linewidth=1.2))
        ax.text(x + 1.2, y + h - 1.2, text, va="top", ha="left", fontsize=8.6, wrap=True)

    def arrow(x0, y0, x1, y1):
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="#333333"))

    per_db = "\n".join(f"  {db}: n = {n}" for db, n in flow.identified_by_database.items())
    box(6, 76, 40, 20, f"Records identified from databases\n(n = {flow.identified}):\n{per_db}", "#eef3fb")
    box(56, 76, 40, 20, "Records removed before screening:\n"
        f"  Duplicate records removed (n = {flow.duplicates_removed})\n"
        f"  Records left unscreened after a\n  stopping rule (n = {flow.stopped_unscreened})")
    box(6, 56, 40, 12, f"Records screened (title/abstract)\n(n = {flow.records_screened})")
    reasons = "\n".join(f"  {r}: n = {n}" for r, n in sorted(flow.records_excluded_reasons.items(),
                                                               key=lambda kv: -kv[1])[:6])
    box(56, 52, 40, 18, f"Records excluded (n = {flow.records_excluded})\n{reasons}")
    box(6, 38, 40, 10, f"Reports sought for retrieval\n(n = {flow.reports_sought})")
    box(56, 38, 40, 10, f"Reports not yet assessed\n(n = {flow.reports_awaiting})")
    box(6, 20, 40, 10, f"Reports assessed for eligibility\n(n = {flow.reports_assessed})")
    ft_reasons = "\n".join(f"  {r}: n = {n}" for r, n in sorted(flow.reports_excluded_reasons.items(),
                                                                key=lambda kv: -kv[1])[:6])
    box(56, 12, 40, 22, f"Reports excluded (n = {flow.reports_excluded})\n{ft_reasons}")
    box(6, 2, 40, 10, f"Studies included in review\n(n = {flow.studies_included})", "#eaf6ea")
    for y0, y1 in ((76, 68), (56, 48), (38, 30), (20, 12)):
        arrow(26, y0, 26, y1)
    for y in (86, 62, 43, 25):
        arrow(46, y, 56, y)
    for label, y in (("Identification", 86), ("Screening", 45), ("Included", 7)):
        ax.text(1.5, y, label, rotation=90, va="center", ha="center", fontsize=10, fontweight="bold")
    ax.set_title("PRISMA 2020 flow diagram", fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path

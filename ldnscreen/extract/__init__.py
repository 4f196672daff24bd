"""Extraction of doses, sample sizes and conditions from abstracts.

Importing this package registers the ``ldnscreen_*`` spaCy factories, so the
trained pipeline in ``models/ldnscreen_extract`` loads with
:func:`load_pipeline` (or ``spacy.load`` after ``import ldnscreen.extract``).
"""

from __future__ import annotations

from pathlib import Path

from . import components  # noqa: F401  (registers the spaCy factories)
from .extraction import Extraction, Mention, extract_dataset, extract_records, load_csv_dataset
from .studytype import STUDY_TYPES, classify_study_type
from .table import read_table, table_rows, write_table

__all__ = [
    "DEFAULT_MODEL",
    "Extraction",
    "Mention",
    "STUDY_TYPES",
    "classify_study_type",
    "extract_dataset",
    "extract_records",
    "load_csv_dataset",
    "load_pipeline",
    "read_table",
    "table_rows",
    "write_table",
]

#: The trained pipeline shipped with the repository.
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "ldnscreen_extract"


def load_pipeline(path: str | Path | None = None):
    """Load the extraction pipeline.

    Parameters
    ----------
    path : str or Path or None
        A directory written by :mod:`ldnscreen.extract.train`. ``None`` loads
        :data:`DEFAULT_MODEL` when present, else a rules-only pipeline.

    Returns
    -------
    spacy.language.Language

    Examples
    --------
    >>> nlp = load_pipeline(path="rules")
    >>> "ldnscreen_mentions" in nlp.pipe_names
    True
    """
    import spacy

    if (path is not None and str(path) == "rules") or (path is None and not DEFAULT_MODEL.exists()):
        from .train import build_pipeline

        return build_pipeline()
    return spacy.load(Path(path) if path is not None else DEFAULT_MODEL)

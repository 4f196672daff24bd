"""Labelled screening corpora, served as memory-mapped Arrow through Hugging Face ``datasets``.

Corpora are read from local CSV or Parquet files only, never from the hub:
``load`` sets ``HF_DATASETS_OFFLINE`` and passes ``data_files`` of the local
path, so the ``datasets`` library converts the file once into an Arrow cache
(kept beside the data under ``~/.cache/huggingface`` or ``cache_dir``) and
memory-maps it afterwards. A 100,000-record corpus then costs almost no
resident memory until its rows are read.

The shared corpora are looked up in ``$LDNSCREEN_SHARED/corpora/screening``,
else ``../shared/corpora/screening`` beside the project.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["shared_dir", "screening_files", "load", "to_records"]

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def shared_dir() -> Path | None:
    """The shared data folder, or ``None`` when it is not there."""
    env = os.environ.get("LDNSCREEN_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[1].parent / "shared", Path.cwd().parent / "shared"]
    for path in candidates:
        if (path / "corpora").is_dir():
            return path
    return None


def screening_files(folder: str | Path | None = None) -> list[Path]:
    """The labelled screening CSVs of ``folder`` (default: the shared screening corpora)."""
    if folder is None:
        shared = shared_dir()
        if shared is None:
            return []
        folder = shared / "corpora" / "screening"
    return sorted(p for p in Path(folder).glob("*.csv") if p.name != "MANIFEST.csv")


def load(name_or_path: str | Path, *, cache_dir: str | Path | None = None):
    """Load a screening corpus as a memory-mapped ``datasets.Dataset``.

    Parameters
    ----------
    name_or_path : str or Path
        A CSV or Parquet file, or the name of a shared corpus
        (``"cohen2006_adhd"``).
    cache_dir : str or Path, optional
        Where ``datasets`` keeps the Arrow file.

    Returns
    -------
    datasets.Dataset
        Columns as in the file; text columns with missing values become ``""``.

    Raises
    ------
    FileNotFoundError
        When neither a file nor a shared corpus of that name exists.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> csv = pathlib.Path(tempfile.mkdtemp()) / "tiny.csv"
    >>> _ = csv.write_text("record_id,title,abstract,label_included\\n0,LDN in CRPS,,1\\n1,Rat study,x,0\\n")
    >>> ds = load(csv, cache_dir=csv.parent / "cache")
    >>> ds.num_rows, ds[0]["title"], ds[0]["abstract"]
    (2, 'LDN in CRPS', '')
    """
    import datasets

    datasets.disable_progress_bars()
    path = Path(name_or_path)
    if not path.exists():
        matches = [p for p in screening_files() if p.stem == str(name_or_path)]
        if not matches:
            raise FileNotFoundError(f"{name_or_path}: no such file and no shared screening corpus of that name")
        path = matches[0]
    kind = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"
    kwargs = {"keep_default_na": False} if kind == "csv" else {}
    ds = datasets.load_dataset(
        kind, data_files=str(path), split="train", cache_dir=str(cache_dir) if cache_dir else None, **kwargs
    )
    return ds


def to_records(dataset, *, source: str = "") -> Iterator:
    """Records from a screening ``Dataset`` (labels and the file's own ``record_id`` kept)."""
    from .records import Provenance, Record

    label_cols = [c for c in dataset.column_names if c.startswith("label")]
    for i, row in enumerate(dataset):
        labels = {c: int(row[c]) for c in label_cols if str(row[c]).strip() not in ("", "None", "nan")}
        year = str(row.get("year") or "").strip()
        yield Record(
            title=str(row.get("title") or ""),
            abstract=str(row.get("abstract") or ""),
            authors=tuple(a.strip() for a in str(row.get("authors") or "").split(";") if a.strip()),
            year=int(float(year)) if year[:4].isdigit() else None,
            keywords=tuple(k.strip() for k in str(row.get("keywords") or "").split(";") if k.strip()),
            pmid=str(row.get("pmid") or "").strip().removesuffix(".0"),
            labels=labels,
            provenance=(Provenance("csv", source, i, str(row.get("record_id", i))),),
        )

"""Run the extraction pipeline over records and return frozen, tabulable values.

The entry points are :func:`extract_records` (a list of records in, one
:class:`Extraction` per record out; large inputs go through joblib, so any
joblib backend, Dask's included, runs them) and :func:`extract_dataset`
(``datasets.Dataset.map`` over a memory-mapped Arrow table).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span

from .components import MENTION_GROUP, ABBREVIATION_GROUP, attach_drug, population_noun
from .normalise import NUMBER_PATTERN, parse_dose, parse_number
from .studytype import classify_study_type

__all__ = [
    "Mention",
    "Extraction",
    "record_text",
    "mentions_from_doc",
    "extract_records",
    "extract_dataset",
    "load_csv_dataset",
]


@dataclass(frozen=True)
class Mention:
    """One extracted mention with its normalised value and the sentence it came from.

    Attributes
    ----------
    label : str
        ``"DOSE"``, ``"SAMPLE_SIZE"`` or ``"CONDITION"``.
    text : str
        The words as written.
    start_char, end_char : int
        Offsets into the record's text (title, then abstract; see :func:`record_text`).
    sentence : str
        The evidence sentence.
    value : int or float or None
        Sample size as an integer; for a dose, the (low) amount.
    high : int or float or None
        For a dose range, the high bound (equal to ``value`` otherwise).
    unit, per, frequency, qualitative : str
        Dose unit (``"mg"``), ``"kg"`` / ``"m2"`` for weight or body-surface
        doses, schedule (``"daily"``, ``"at bedtime"``), and ``"high"``,
        ``"low"``, ``"overdose"``... for doses without a number.
    population : str
        What a sample size counts (``"fibromyalgia patients"``).
    drug : str
        The drug a dose was attached to.
    long_form : str
        A condition's name with defined abbreviations expanded.
    """

    label: str
    text: str
    start_char: int
    end_char: int
    sentence: str
    value: int | float | None = None
    high: int | float | None = None
    unit: str = ""
    per: str = ""
    frequency: str = ""
    qualitative: str = ""
    population: str = ""
    drug: str = ""
    long_form: str = ""

    @property
    def normalised(self) -> str:
        """The value as a reviewer would tabulate it.

        Examples
        --------
        >>> Mention("DOSE", "0.75 to 6 mg", 0, 12, "", 0.75, 6, "mg", drug="naltrexone").normalised
        'naltrexone 0.75-6 mg'
        >>> Mention("SAMPLE_SIZE", "ten", 0, 3, "", 10, population="healthy volunteers").normalised
        '10 healthy volunteers'
        """
        if self.label == "SAMPLE_SIZE":
            return f"{self.value} {self.population}".strip() if self.value is not None else self.text
        if self.label == "CONDITION":
            return self.long_form or self.text
        if self.value is None:
            amount = self.qualitative if self.qualitative in ("overdose", "") else f"{self.qualitative} dose"
            amount = amount or self.text
        else:
            amount = f"{self.value:g}" if self.high in (None, self.value) else f"{self.value:g}-{self.high:g}"
            unit = self.unit + (f"/{self.per}" if self.per else "")
            amount = " ".join(x for x in (amount, unit, self.frequency) if x)
        return f"{self.drug} {amount}".strip() if self.drug else amount


@dataclass(frozen=True)
class Extraction:
    """What was extracted from one record.

    Attributes
    ----------
    record_id, title : str
    study_type : str
        One of :data:`ldnscreen.extract.studytype.STUDY_TYPES`.
    sample_sizes, doses, conditions : tuple of Mention
        In text order.
    """

    record_id: str
    title: str
    study_type: str
    sample_sizes: tuple[Mention, ...] = ()
    doses: tuple[Mention, ...] = ()
    conditions: tuple[Mention, ...] = ()

    @property
    def sample_size(self) -> int | None:
        """The largest sample size mentioned (usually the number enrolled), or ``None``."""
        values = [m.value for m in self.sample_sizes if isinstance(m.value, int)]
        return max(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` (JSON-serialisable)."""
        return asdict(self)


def _get(record: Any, name: str, default: Any = "") -> Any:
    if isinstance(record, Mapping):
        return record.get(name, default) if record.get(name) is not None else default
    return getattr(record, name, default)


def record_text(record: Any) -> str:
    """Title and abstract as the pipeline reads them: ``"Title. Abstract"``.

    Examples
    --------
    >>> record_text({"title": "LDN for CRPS", "abstract": "Two cases."})
    'LDN for CRPS. Two cases.'
    """
    title = str(_get(record, "title") or "").strip()
    abstract = str(_get(record, "abstract") or "").strip()
    if title and abstract:
        return f"{title}{'' if title[-1] in '.?!' else '.'} {abstract}"
    return title or abstract


def _record_id(record: Any) -> str:
    return str(_get(record, "id") or _get(record, "record_id") or "")


def _sentence(span: Span) -> str:
    try:
        return span.sent.text
    except ValueError:
        return span.doc.text


def mentions_from_doc(doc: Doc) -> list[Mention]:
    """Normalised :class:`Mention` objects from a processed ``Doc``.

    Examples
    --------
    >>> from ldnscreen.extract import load_pipeline
    >>> nlp = load_pipeline("rules")
    >>> doc = nlp("Ten healthy volunteers took naltrexone 4.5 mg at bedtime.")
    >>> [m.normalised for m in mentions_from_doc(doc)]
    ['10 healthy volunteers', 'naltrexone 4.5 mg at bedtime']
    """
    abbreviations = {s.text: s.label_ for s in doc.spans.get(ABBREVIATION_GROUP, [])}
    mentions = []
    for span in doc.spans.get(MENTION_GROUP, []):
        common = dict(label=span.label_, text=span.text, start_char=span.start_char, end_char=span.end_char,
                      sentence=_sentence(span))
        if span.label_ == "SAMPLE_SIZE":
            match = re.search(NUMBER_PATTERN, span.text, re.IGNORECASE)
            value = parse_number(match.group(0)) if match else None
            mentions.append(Mention(**common, value=value if isinstance(value, int) else None,
                                    population=population_noun(span)))
        elif span.label_ == "DOSE":
            dose = parse_dose(span.text)
            drug = attach_drug(span)
            mentions.append(Mention(
                **common,
                value=dose.low if dose else None,
                high=dose.high if dose else None,
                unit=dose.unit if dose else "",
                per=dose.per if dose else "",
                frequency=dose.frequency if dose else "",
                qualitative=dose.qualitative if dose else "",
                drug=drug.text if drug is not None else "",
            ))
        else:
            long_form = span.text
            for short, long in abbreviations.items():
                if short in span.text and long not in span.text:
                    long_form = re.sub(rf"(?<![\w-]){re.escape(short)}(?![\w-])", long, long_form)
            mentions.append(Mention(**common, long_form=long_form if long_form != span.text else ""))
    return mentions


def _extraction(record: Any, doc: Doc) -> Extraction:
    mentions = mentions_from_doc(doc)
    by_label = {label: tuple(m for m in mentions if m.label == label) for label in ("SAMPLE_SIZE", "DOSE", "CONDITION")}
    return Extraction(
        record_id=_record_id(record),
        title=str(_get(record, "title") or ""),
        study_type=classify_study_type(doc.text, tuple(_get(record, "publication_types", ()) or ())),
        sample_sizes=by_label["SAMPLE_SIZE"],
        doses=by_label["DOSE"],
        conditions=by_label["CONDITION"],
    )


_PIPELINES: dict[str, Language] = {}


def _pipeline(model: str | Path | None) -> Language:
    from . import load_pipeline

    key = str(model)
    if key not in _PIPELINES:
        _PIPELINES[key] = load_pipeline(model)
    return _PIPELINES[key]


def _extract_chunk(records: Sequence[Any], nlp: Language | None, model: str | Path | None,
                   n_process: int, batch_size: int) -> list[Extraction]:
    nlp = nlp if nlp is not None else _pipeline(model)
    texts = (record_text(r) for r in records)
    return [_extraction(r, doc) for r, doc in zip(records, nlp.pipe(texts, n_process=n_process, batch_size=batch_size))]


def extract_records(
    records: Iterable[Any],
    nlp: Language | None = None,
    *,
    model: str | Path | None = None,
    n_process: int = 1,
    batch_size: int = 64,
    n_jobs: int | None = None,
    chunk_size: int = 1000,
) -> list[Extraction]:
    """Extract study type, sample sizes, doses and conditions from each record.

    Parameters
    ----------
    records : iterable of Record or mapping
        :class:`ldnscreen.records.Record` objects, or mappings with
        ``record_id``/``id``, ``title``, ``abstract`` and optionally
        ``publication_types``.
    nlp : Language or None
        A loaded pipeline. ``None`` loads ``model`` (once per process).
    model : str or Path or None
        Pipeline directory used when ``nlp`` is ``None``; ``None`` means
        :data:`ldnscreen.extract.DEFAULT_MODEL` (rules only when absent),
        ``"rules"`` the rules-only pipeline.
    n_process : int, default=1
        Passed to ``nlp.pipe`` inside each chunk.
    batch_size : int, default=64
        Passed to ``nlp.pipe``.
    n_jobs : int or None, default=None
        ``None`` processes everything in this process. Otherwise the records
        are cut into chunks of ``chunk_size`` and run with
        ``joblib.Parallel(n_jobs=n_jobs)``, in whatever joblib backend is
        active; each worker loads ``model`` once. To spread a large batch over
        a Dask cluster::

            from dask.distributed import Client
            import joblib
            client = Client("scheduler-address:8786")
            with joblib.parallel_backend("dask"):
                extractions = extract_records(records, model="models/ldnscreen_extract", n_jobs=-1)

        (``nlp`` objects are pickled to the workers when given; passing
        ``model`` as a path is cheaper.)
    chunk_size : int, default=1000
        Records per joblib task.

    Returns
    -------
    list of Extraction
        In the order of ``records``.

    Examples
    --------
    >>> recs = [{"record_id": "a", "title": "LDN in fibromyalgia",
    ...          "abstract": "In this randomized, placebo-controlled trial, 31 women took 4.5 mg/day."}]
    >>> [e] = extract_records(recs, model="rules")
    >>> e.study_type, e.sample_size, e.doses[0].normalised
    ('randomised controlled trial', 31, '4.5 mg daily')
    >>> extract_records(recs, model="rules", n_jobs=1, chunk_size=1) == [e]
    True
    """
    records = list(records)
    if n_jobs is None:
        return _extract_chunk(records, nlp, model, n_process, batch_size)
    from joblib import Parallel, delayed

    chunks = [records[i:i + chunk_size] for i in range(0, len(records), chunk_size)]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_extract_chunk)(chunk, nlp, model, n_process, batch_size) for chunk in chunks
    )
    return [e for chunk in results for e in chunk]


def load_csv_dataset(path: str | Path, *, cache_dir: str | Path | None = None):
    """A local CSV as a memory-mapped ``datasets.Dataset`` (never fetched from the hub).

    Parameters
    ----------
    path : str or Path
        CSV with at least ``title`` and ``abstract`` columns.
    cache_dir : str or Path or None
        Where the Arrow file is written (``datasets``' default cache when ``None``).
    """
    from datasets import Features, Value, load_dataset

    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        columns = next(csv.reader(handle))
    features = Features({c: Value("string") for c in columns})
    return load_dataset("csv", data_files=str(path), split="train", cache_dir=None if cache_dir is None else str(cache_dir),
                        features=features, keep_in_memory=False)


def extract_dataset(ds, nlp: Language | None = None, *, model: str | Path | None = None, batch_size: int = 64,
                    num_proc: int | None = None):
    """Add extraction columns to a ``datasets.Dataset`` with batched ``Dataset.map``.

    New columns: ``study_type`` (str), ``sample_size`` (int or None),
    ``doses`` and ``conditions`` (lists of normalised strings) and
    ``extraction`` (the full :class:`Extraction` as JSON).

    Parameters
    ----------
    ds : datasets.Dataset
        With ``title`` and ``abstract`` columns (``record_id`` optional), e.g.
        from :func:`load_csv_dataset`.
    nlp, model
        As for :func:`extract_records`.
    batch_size : int, default=64
        Rows per ``map`` batch.
    num_proc : int or None
        Passed to ``Dataset.map``.

    Returns
    -------
    datasets.Dataset

    Examples
    --------
    >>> from datasets import Dataset
    >>> ds = Dataset.from_dict({"record_id": ["a"], "title": ["LDN"], "abstract": ["Ten healthy volunteers."]})
    >>> list(extract_dataset(ds, model="rules")["sample_size"])
    [10]
    """
    if nlp is None and num_proc in (None, 1):
        nlp = _pipeline(model)

    def batch(rows: dict[str, list]) -> dict[str, list]:
        n = len(next(iter(rows.values())))
        records = [{k: rows[k][i] for k in rows} for i in range(n)]
        found = _extract_chunk(records, nlp, model, 1, batch_size)
        return {
            "study_type": [e.study_type for e in found],
            "sample_size": [e.sample_size for e in found],
            "doses": [[m.normalised for m in e.doses] for e in found],
            "conditions": [[m.normalised for m in e.conditions] for e in found],
            "extraction": [json.dumps(e.to_dict(), ensure_ascii=False) for e in found],
        }

    fingerprint = hashlib.sha1(
        f"{ds._fingerprint}|{model}|{id(nlp) if nlp is not None else ''}|ldnscreen-extract-1".encode()
    ).hexdigest()[:16]
    return ds.map(batch, batched=True, batch_size=batch_size, num_proc=num_proc, new_fingerprint=fingerprint)

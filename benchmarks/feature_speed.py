"""How fast :class:`ldnscreen.features.TextFeatures` fits, next to the scikit-learn implementation it replaced.

``SklearnTextFeatures`` below is the previous implementation (two plain
``sklearn.feature_extraction.text.TfidfVectorizer`` fields); the tests use it
as the reference that ``TextFeatures`` must reproduce exactly. For each size,
records are taken from the shared screening datasets (the first ``n`` of
their concatenation, repeated with a counter appended to the abstract beyond
19,477 records so that big corpora are not mere copies), and
``fit_transform`` is timed for both implementations in fresh subprocesses
(best of ``--repeat`` runs); the peak resident memory (``VmHWM``) of each
subprocess is reported, with the baseline after loading the records apart.
The two matrices are compared in the same run (vocabulary, idf, values). Both
keep every term as a column (``once_terms="keep"``); the last two columns time
``TextFeatures()`` as the learner uses it (terms of one record collapsed into
one column per record and field), which has no scikit-learn counterpart.

Usage::

    PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/feature_speed.py [--sizes 391,1000,2500,10000,100000] [--repeat 3]

A size may be a dataset name (``cohen2006_nsaids``) to time that dataset alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LDNSCREEN_SHARED") or ROOT.parent / "shared")
sys.path.insert(0, str(ROOT))

from ldnscreen.corpora import screening_files  # noqa: E402
from ldnscreen.features import TextFeatures  # noqa: E402


class SklearnTextFeatures(TextFeatures):
    """The previous :class:`TextFeatures`: scikit-learn's TfidfVectorizer per field (the reference)."""

    _vectorizer_class = TfidfVectorizer

    @staticmethod
    def _fit_vectorizer(make, texts, transform: bool):
        vectorizer = make()
        try:
            matrix = vectorizer.fit_transform(texts) if transform else vectorizer.fit(texts)
        except ValueError as exc:
            if "no terms remain" not in str(exc) and "max_df corresponds" not in str(exc):
                raise
            vectorizer.set_params(min_df=1, max_df=1.0)
            matrix = vectorizer.fit_transform(texts) if transform else vectorizer.fit(texts)
        return vectorizer, (matrix if transform else None)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        names = list(self.text_vectorizer_.get_feature_names_out())
        if self.title_vectorizer_ is not None:
            names += ["title:" + n for n in self.title_vectorizer_.get_feature_names_out()]
        return np.asarray(names, dtype=object)


def shared_records(name: str | None = None):
    """Records of one shared screening dataset, or of all of them (sorted by file name)."""
    from ldnscreen.simulate import load_labelled_records

    folder = SHARED / "corpora" / "screening"
    paths = [folder / f"{name}.csv"] if name else screening_files(folder)
    records = []
    for path in paths:
        records.extend(load_labelled_records(path))
    return records


def corpus(size: str):
    """The records of a benchmark size: a dataset name or a number of records."""
    from dataclasses import replace

    if not size.isdigit():
        return shared_records(size)
    base, n = shared_records(), int(size)
    return [
        base[i % len(base)] if i < len(base) else replace(base[i % len(base)], abstract=f"{base[i % len(base)].abstract} copy{i // len(base)}")
        for i in range(n)
    ]


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child(size: str, which: str, repeat: int) -> None:
    """Run in a subprocess: time fit_transform of one implementation, print JSON."""
    records = corpus(size)
    baseline = _peak_mb()
    # old and new term for term (once_terms="keep"); "default" is TextFeatures() as the learner uses it
    make = {"old": lambda: SklearnTextFeatures(once_terms="keep"), "new": lambda: TextFeatures(once_terms="keep"),
            "default": TextFeatures}[which]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        X = make().fit_transform(records)
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"seconds": best, "peak_mb": _peak_mb(), "baseline_mb": baseline, "shape": X.shape, "nnz": X.nnz}))


def compare(records, **params) -> float:
    """Largest absolute difference between the two implementations' matrices; raises when vocabularies differ."""
    params = {"once_terms": "keep", **params}  # scikit-learn has no collapsed columns
    new, old = TextFeatures(**params), SklearnTextFeatures(**params)
    a, b = new.fit_transform(records), old.fit_transform(records)
    if list(new.get_feature_names_out()) != list(old.get_feature_names_out()):
        raise AssertionError("vocabularies differ")
    return float(abs(a - b).max()) if a.nnz or b.nnz else 0.0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="cohen2006_nsaids,391,1000,2500,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-reference-above", type=int, default=10**9, help="skip the sklearn run above this size")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    screening = SHARED / "corpora" / "screening"
    if not screening_files(screening):
        parser.exit(2, f"feature_speed.py: no screening corpus in {screening} (records are taken from the shared "
                       "corpora: put ../shared beside the repository or set LDNSCREEN_SHARED)\n")
    print(f"{'records':>18} {'old s':>8} {'new s':>8} {'ratio':>6} {'old MB':>7} {'new MB':>7} {'base MB':>7} {'max |diff|':>10}"
          f" {'default s':>9} {'default MB':>10}")
    for size in args.sizes.split(","):
        results = {}
        for which in ("old", "new", "default"):
            if which == "old" and size.isdigit() and int(size) > args.no_reference_above:
                results[which] = {"seconds": float("nan"), "peak_mb": float("nan")}
                continue
            repeat = 1 if size.isdigit() and int(size) >= 50_000 else args.repeat
            out = subprocess.run(
                [sys.executable, __file__, "--child", size, which, str(repeat)],
                check=True, capture_output=True, text=True,
            ).stdout
            results[which] = json.loads(out.strip().splitlines()[-1])
        diff = compare(corpus(size)) if not size.isdigit() or int(size) <= 20_000 else float("nan")
        old, new, default = results["old"], results["new"], results["default"]
        print(
            f"{size:>18} {old['seconds']:8.3f} {new['seconds']:8.3f} {old['seconds'] / new['seconds']:6.1f} "
            f"{old['peak_mb']:7.0f} {new['peak_mb']:7.0f} {new.get('baseline_mb', float('nan')):7.0f} {diff:10.2g}"
            f" {default['seconds']:9.3f} {default['peak_mb']:10.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

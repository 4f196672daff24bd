"""ldnscreen: ML-assisted screening for systematic reviews.

Import search exports, deduplicate across databases, rank records with an
active-learning TF-IDF + logistic regression model that starts from the
review's criteria, keep every decision in a durable SQLite store, say when it
is safe to stop, extract dose, sample size and condition mentions, and
report the PRISMA flow.

Heavy parts (scikit-learn, spaCy) are imported on first use.
"""

from __future__ import annotations

import importlib

from .records import Provenance, Record
from .store import Decision, ReviewStore, StoreError

__version__ = "0.1.0"

_LAZY = {
    "Review": "ldnscreen.review",
    "ScreeningQueue": "ldnscreen.review",
    "rank": "ldnscreen.rankers",
    "ActiveLearner": "ldnscreen.rankers",
    "Criteria": "ldnscreen.criteria",
    "read_file": "ldnscreen.io",
    "write_file": "ldnscreen.io",
    "ReadError": "ldnscreen.io",
    "find_duplicates": "ldnscreen.dedupe",
    "stopping_estimate": "ldnscreen.stopping",
    "simulate": "ldnscreen.simulate",
    "extract_records": "ldnscreen.extract",
    "Extraction": "ldnscreen.extract",
    "prisma_counts": "ldnscreen.prisma",
}

__all__ = ["Provenance", "Record", "Decision", "ReviewStore", "StoreError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ldnscreen' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

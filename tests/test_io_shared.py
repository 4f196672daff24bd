"""Shared screening CSVs written in every export format and read back unchanged.

Skipped when ``../shared`` (or ``$LDNSCREEN_SHARED``) is not available.
"""

from __future__ import annotations

import re

import pytest

try:  # tests/ is a package when tests/__init__.py exists, a plain folder otherwise
    from tests.formats_helper import CARRY_LABELS, FILE_NAMES, SCREENING, convert, shared_records
except ImportError:  # pragma: no cover
    from formats_helper import CARRY_LABELS, FILE_NAMES, SCREENING, convert, shared_records
from ldnscreen.io import read_file

CORPORA = ["cohen2006_adhd", "kitchenham_2010", "nagtegaal_2019_nudging"]
LIMIT = 150  # rows per corpus: enough for odd cases, fast enough for every test run
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _text(value: str) -> str:
    """Whitespace collapsed and control characters dropped (XML and XLSX cannot hold them)."""
    return " ".join(_CONTROL.sub("", value).split())


@pytest.mark.parametrize("fmt", sorted(FILE_NAMES))
@pytest.mark.parametrize("corpus", CORPORA)
def test_shared_corpus_round_trip(tmp_path, corpus, fmt):
    csv_path = SCREENING / f"{corpus}.csv"
    if not csv_path.is_file():
        pytest.skip(f"{csv_path} is not available")
    original = shared_records(csv_path, limit=LIMIT)
    path = convert(csv_path, fmt, tmp_path, limit=LIMIT)
    result = read_file(path)  # format sniffed, as a user's file would be
    assert result.format == {"ris-embase": "ris", "ris-scopus": "ris", "wos-tab-utf16": "wos-tab"}.get(fmt, fmt)
    back = result.records
    assert len(back) == len(original) == LIMIT
    assert [_text(r.title) for r in back] == [_text(r.title) for r in original]
    assert [_text(r.abstract) for r in back] == [_text(r.abstract) for r in original]
    assert [r.id for r in back] == [r.id for r in original]
    assert [r.pmid for r in back] == [r.pmid for r in original]
    assert [r.year for r in back] == [r.year for r in original]
    if fmt in CARRY_LABELS:
        assert [r.labels for r in back] == [r.labels for r in original]
        assert sum(r.labels.get("label_included", 0) for r in back) > 0 or corpus == "cohen2006_adhd"

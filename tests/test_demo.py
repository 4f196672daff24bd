"""The main job (``ldnscreen demo``) on the shipped illustrative LDN records."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from ldnscreen.demo import run_demo
from ldnscreen.store import ReviewStore


@pytest.mark.slow
def test_demo_runs_from_exports_to_prisma(tmp_path):
    result = run_demo(tmp_path / "demo", console=Console(file=open(tmp_path / "log.txt", "w"), width=120))
    assert all(path.exists() and path.stat().st_size > 0 for path in result.outputs)
    # the criteria prior puts relevant records first, before any decision exists
    assert result.first_relevant_ranks[:5] == (1, 2, 3, 4, 5)
    # the illustrative review keeps 29 studies, as the real one did
    assert result.included_full_text == 29
    with ReviewStore.open(result.review) as store:
        counts = store.counts()
        assert counts["identified"] == 81 and counts["duplicates_removed"] == 16
        if result.stopped_early_by:
            assert store.stops()[0].rule == result.stopped_early_by
    flow = json.loads((tmp_path / "demo" / "prisma.json").read_text())
    assert flow["studies_included"] == 29 and flow["identified"] == 81

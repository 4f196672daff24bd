"""The Review API and the ScreeningQueue: ranking, decisions, undo, caching, background retraining."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ldnscreen.records import Provenance, Record
from ldnscreen.review import QueueItem, Refresh, Review
from ldnscreen.store import ReviewStore, StoreError

ROOT = Path(__file__).resolve().parents[1]
CRITERIA = ROOT / "corpora" / "ldn_review" / "criteria.toml"
DEMO = ROOT / "corpora" / "ldn_review" / "demo"

NALTREXONE_AND_PAIN = (re.compile(r"naltrexone|\bLDN\b", re.I), re.compile(r"pain|fibromyalg|CRPS|neuropath", re.I))


@pytest.fixture
def review(tmp_path, records):
    with Review.create(tmp_path / "ldn", criteria=CRITERIA) as r:
        r.add_records(records, file_name="test.export", database="pubmed")
        yield r


def _extra_records(n: int) -> list[Record]:
    return [Record(title=f"Unrelated record {i} on statins and cholesterol", abstract="A cohort.",
                   provenance=(Provenance("embase", "more.ris", i),)) for i in range(n)]


def test_next_returns_ranked_queue_items(review, records):
    items = review.next(3)
    assert [i.rank for i in items] == [1, 2, 3]
    assert all(isinstance(i, QueueItem) for i in items)
    assert items[0].score >= items[1].score >= items[2].score
    with pytest.raises(dataclasses.FrozenInstanceError):
        items[0].score = 1.0  # type: ignore[misc]
    assert len(review.ranking()) == len(records)


def test_criteria_put_the_described_records_first(review):
    """Before any label the criteria prior orders the queue: LDN for chronic pain first,
    the rat study, the review article and acute pain (exclusion evidence) last."""
    first, second = review.next(2)
    for item in (first, second):
        assert all(p.search(item.record.text) for p in NALTREXONE_AND_PAIN)
        assert item.suggested_reason is None
    last = review.ranking()[-3:]
    assert {i.record.title for i in last} >= {"Opioid antagonists: a narrative review"}
    by_title = {i.record.title: i for i in review.ranking()}
    assert by_title["Opioid antagonists: a narrative review"].suggested_reason == "not about LDN"
    assert by_title["Acute postoperative pain after naltrexone"].suggested_reason is None  # full-text reason only
    assert first.top_terms, "the terms that pushed the record up are reported"


def test_decide_is_committed_and_leaves_the_queue(review, tmp_path):
    first = review.next()[0]
    decision = review.decide(first.record.id, "include", reviewer="jb", note="clear")
    assert decision.label == "include" and decision.reviewer == "jb"
    assert first.record.id not in {i.record.id for i in review.ranking()}
    # a second connection sees it: it was committed before decide() returned
    with ReviewStore.open(tmp_path / "ldn") as other:
        assert other.current_labels()[first.record.id].note == "clear"


def test_decide_refuses_bad_input(review):
    record_id = review.next()[0].record.id
    with pytest.raises(ValueError, match="include"):
        review.decide(record_id, "maybe")
    with pytest.raises(StoreError):
        review.decide("r0000000000000000", "include")
    with pytest.raises(ValueError, match="stage"):
        review.decide(record_id, "include", stage="abstract")
    assert review.decisions() == []


def test_learner_is_updated_by_decisions(review):
    queue = review.queue()
    a, b = review.next(2)
    review.decide(a.record.id, "include")
    review.decide(b.record.id, "exclude", reason="not about pain")
    review.next()  # synchronous mode: the learner has caught up
    assert queue.learner.labels == {queue.index_of(a.record.id): 1, queue.index_of(b.record.id): 0}
    assert queue.up_to_date


def test_undo_returns_record_to_queue_and_learner(review):
    queue = review.queue()
    item = review.next()[0]
    review.decide(item.record.id, "include")
    undone = review.undo()
    assert undone.record_id == item.record.id
    assert review.next()[0].record.id == item.record.id
    assert queue.learner.labels == {}
    assert review.undo() is None


def test_undo_restores_an_earlier_decision(review):
    queue = review.queue()
    record_id = review.next()[0].record.id
    review.decide(record_id, "include")
    review.decide(record_id, "exclude", reason="not about pain")
    review.undo()
    assert review.current_labels()[record_id].label == "include"
    review.next()
    assert queue.learner.labels == {queue.index_of(record_id): 1}


def test_undo_of_a_decision_on_a_copy_merged_since_returns_the_kept_record(review, records):
    # decided before the duplicates were merged; the session that undoes it starts after the merge
    review.store.decide(records[4].id, "include", reviewer="ann")
    review.store.merge_duplicates([(records[1], [records[1].id, records[4].id], "doi", 1.0)])
    with Review.open(review.store.path) as later:
        queue = later.queue()
        assert queue.labelled() == {records[1].id: 1}  # the copy's decision is the kept record's
        undone = later.undo()
        assert undone.record_id == records[4].id  # (the log keeps the copy's own id)
        assert queue.labelled() == {} and later.progress().screened == 0


def test_progress_and_stopping_inputs(review, records):
    ids = [i.record.id for i in review.next(3)]
    review.decide(ids[0], "include")
    review.decide(ids[1], "exclude")
    review.decide(ids[2], "include")
    assert review.stopping_inputs() == ([1, 0, 1], len(records))
    review.decide(ids[0], "exclude")  # changed mind: counts once, at its latest position
    assert review.stopping_inputs() == ([0, 1, 0], len(records))
    progress = review.progress()
    assert (progress.screened, progress.included, progress.excluded, progress.left) == (3, 1, 2, len(records) - 3)
    estimate = review.stopping_estimate()
    assert estimate.n_screened == 3 and estimate.n_total == len(records)


def test_full_text_stage_screens_title_abstract_inclusions_only(review):
    a, b, c = (i.record.id for i in review.next(3))
    review.decide(a, "include")
    review.decide(b, "include")
    review.decide(c, "exclude")
    full_text = [i.record.id for i in review.ranking(stage="full-text")]
    assert sorted(full_text) == sorted([a, b])
    review.decide(a, "exclude", stage="full-text", reason="animal model")
    assert [i.record.id for i in review.next(5, stage="full-text")] == [b]
    p = review.progress("full-text")
    assert (p.total, p.screened, p.left) == (2, 1, 1)


def test_feature_matrix_is_cached_in_the_store(tmp_path, records, monkeypatch):
    from ldnscreen import features

    with Review.create(tmp_path / "cache", criteria=CRITERIA) as r:
        r.add_records(records)
        expected = [i.record.id for i in r.ranking()]
        keys = r.store._db.execute("SELECT key FROM blobs").fetchall()
    assert {k[0].split(":")[0] for k in keys} == {"matrix", "features", "prior"}

    def refuse(*args, **kwargs):
        raise AssertionError("the matrix was recomputed")

    monkeypatch.setattr(features.TextFeatures, "fit_transform", refuse)
    with Review.open(tmp_path / "cache.ldnscreen") as r:
        assert [i.record.id for i in r.ranking()] == expected
        monkeypatch.undo()
        # new records change the active ids: the cache is refitted and the old entry replaced
        r.add_records(_extra_records(3), file_name="more.ris")
        assert len(r.ranking()) == len(records) + 3
        assert len(r.store._db.execute("SELECT key FROM blobs WHERE key LIKE 'matrix:%'").fetchall()) == 1


def test_background_queue_answers_without_waiting(tmp_path, records):
    with Review.create(tmp_path / "bg", criteria=CRITERIA, background=True) as r:
        r.add_records(records + _extra_records(20))
        queue = r.queue()
        first, second = r.next(2)
        r.decide(first.record.id, "include")
        r.decide(second.record.id, "exclude")
        shown = r.next(3)
        assert first.record.id not in {i.record.id for i in shown}
        assert second.record.id not in {i.record.id for i in shown}
        assert queue.wait(timeout=30)
        assert queue.up_to_date
        assert queue.learner.n_labels == 2
        # after the retrain the classifier is trained and the ranking version moved on
        assert queue.learner.classifier_ is not None


def test_empty_review_has_an_empty_queue(tmp_path):
    with Review.create(tmp_path / "empty") as r:
        assert r.next() == []
        assert r.progress().total == 0


def test_demo_records_first_shown_are_those_the_criteria_describe(tmp_path):
    files = [DEMO / name for name in ("pubmed.nbib", "embase.ris", "wos.txt")]  # labels.csv is not an export
    if not all(f.exists() for f in files):
        pytest.skip("corpora/ldn_review/demo is not there")
    from ldnscreen.labels_import import import_decisions

    with Review.create(tmp_path / "demo", criteria=CRITERIA) as r:
        r.import_files(files)
        head = r.next(5)
        tail = r.ranking()[-5:]
        # what a reviewer decides for each record (dry run: nothing written)
        truth = dict(import_decisions(r.store, DEMO / "labels.csv", dry_run=True).planned)
    assert [truth[i.record.id] for i in head] == ["include"] * 5
    for item in head:
        assert all(p.search(item.record.text) for p in NALTREXONE_AND_PAIN), item.record.title
        assert item.suggested_reason is None, (item.record.title, item.suggested_reason)
    assert sum(i.suggested_reason is not None for i in tail) >= 3


def test_import_files_then_rank(tmp_path):
    data = Path(__file__).resolve().parent / "data"
    with Review.create(tmp_path / "files", criteria=CRITERIA) as r:
        summaries = r.import_files([data / "pubmed.nbib", data / "embase.ris"])
        assert sum(s.records_added for s in summaries) == len(r.records()) > 0
        assert len(r.ranking()) == len(r.records())
        again = r.import_files([data / "pubmed.nbib"])
        assert again[0].already_imported and again[0].records_added == 0


def test_create_takes_a_criteria_object_and_refuses_broken_criteria(tmp_path, records):
    from ldnscreen.criteria import Criteria

    criteria = Criteria.load(CRITERIA)
    with Review.create(tmp_path / "obj", criteria=criteria) as r:
        assert r.criteria == criteria
        assert r.reasons("full-text")[-1] == "in vitro"
    with pytest.raises(ValueError, match="criteria"):
        Review.create(tmp_path / "broken", criteria='name = "x"\n[[exclusion]]\nstage = "title-abstract"\n')
    assert not (tmp_path / "broken.ldnscreen").exists()


def test_refresh_follows_decisions_undos_and_imports_made_in_another_process(review, records):
    ann = review
    first, second = [item.record.id for item in ann.next(2)]
    assert ann.refresh() == Refresh()  # nothing written elsewhere: nothing to do
    with Review.open(ann.store.path) as bob:
        bob.decide(first, "exclude", reviewer="bob")
        bob.undo(reviewer="bob")
        bob.decide(second, "include", reviewer="bob")
    refreshed = ann.refresh()
    assert [(d.record_id, d.reviewer) for d in refreshed.decided] == [(second, "bob")]
    assert [item.record.id for item in ann.next(1)] == [first]  # bob undid his exclusion: first is back
    assert ann.progress().screened == 1 and ann.progress().included == 1
    with Review.open(ann.store.path) as bob:
        bob.add_records(_extra_records(2), file_name="more.ris")
    assert ann.refresh().records_changed
    assert ann.progress().total == len(records) + 2 and ann.progress().screened == 1


def test_the_full_text_queue_follows_title_abstract_decisions_made_elsewhere(review, records):
    store = review.store
    for record in records[:2]:
        store.decide(record.id, "include")
    store.decide(records[0].id, "exclude", stage="full-text", reason="no pain data")
    store.decide(records[0].id, "exclude", reason="not about pain")  # relabelled at title-abstract
    assert [item.record.id for item in review.next(5, stage="full-text")] == [records[1].id]
    with Review.open(store.path) as other:  # and back, in another process
        other.store.decide(records[0].id, "include")
    assert review.refresh("full-text").records_changed
    assert [item.record.id for item in review.next(5, stage="full-text")] == [records[1].id]  # 0 is decided
    progress = review.progress("full-text")
    assert (progress.screened, progress.left, progress.total) == (1, 1, 2)


def test_refresh_reads_a_decision_on_a_merged_copy_as_the_kept_record(review, records):
    review.store.decide(records[4].id, "include", reviewer="ann")
    review.store.merge_duplicates([(records[1], [records[1].id, records[4].id], "doi", 1.0)])
    assert review.store.standing_decision(records[1].id).label == "include"
    assert review.store.standing_decision(records[1].id).record_id == records[1].id
    queue = review.queue()
    assert queue.labelled() == {records[1].id: 1}
    with Review.open(review.store.path) as bob:  # bob undoes ann's decision, made on the copy
        assert bob.undo().record_id == records[4].id
    review.refresh()
    assert queue.labelled() == {} and review.progress().screened == 0

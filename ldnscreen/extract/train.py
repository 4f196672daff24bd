"""Train and evaluate the extraction pipeline with one command.

Train (writes ``models/ldnscreen_extract`` and prints the evaluation)::

    nice -n 10 python -m ldnscreen.extract.train --shared ../shared --out models/ldnscreen_extract

Evaluate an existing pipeline (prints the same numbers as in its ``meta.json``;
add ``--write-meta`` to store them there after changing the rule components)::

    python -m ldnscreen.extract.train --shared ../shared --evaluate models/ldnscreen_extract

Data and splits
---------------
* ``corpora/extraction/ebm_nlp_participants_train.conll`` (EBM-NLP, crowd
  annotated participant spans; one token per line, ``token<TAB>POS<TAB>label``
  with labels Condition, SampleSize, Age, Sex, O; sentences separated by
  blank lines, no document boundaries). Sentences are grouped into blocks of
  :data:`BLOCK` consecutive sentences (approximating abstracts, so that one
  abstract rarely straddles two splits); the blocks are shuffled with
  ``random.Random(SEED)`` and cut 80 / 10 / 10 into train / dev / test.
  Only Condition and SampleSize are used (as CONDITION and SAMPLE_SIZE).
  In EBM-NLP, SampleSize is almost always the number alone (``"77"`` in
  ``"77 patients"``, ``"n=418"``), so the pipeline's SAMPLE_SIZE span is the
  number alone and overlap match means the predicted and gold spans share a
  token.
* ``corpora/extraction/ade_drug_dose_dev.jsonl`` (ADE corpus drug-dose
  relations). Split by PMID with ``random.Random(SEED)`` into a half used
  while writing the dose rules (dev) and a half only evaluated (test).
  Dose spans are character offsets; the same dose appears once per drug it
  relates to, so dose spans are de-duplicated for P/R/F and drug attachment
  counts as correct when the attached drug overlaps any drug the annotators
  related to that dose.

EBM-NLP's crowd annotation leaves many true mentions unmarked (about two in
three sample sizes the rules find in the test split are real counts of
participants that nobody marked), which caps precision measured over all
sentences whatever the extractor. Scores are therefore reported twice: over
all sentences, and over the sentences where the annotators marked at least one
span of the label ("marked sentences"), where unmarked mentions are rarer.

Model selection: the ``ner`` is trained on train for :data:`EPOCHS` epochs;
the epoch with the best dev overlap F1 on marked sentences is kept. For each
label, rules / model / both are scored on dev (overlap F1, marked sentences)
and the best is written into the ``ldnscreen_mentions`` component. All
reported scores are on test.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example

from .components import MENTION_GROUP, attach_drug
from .normalise import NUMBER_PATTERN, parse_number

__all__ = [
    "SEED",
    "BLOCK",
    "EPOCHS",
    "read_conll",
    "read_ade",
    "split_blocks",
    "split_ade",
    "span_scores",
    "build_pipeline",
    "evaluate",
    "format_scores",
    "train",
    "main",
]

SEED = 13
BLOCK = 10
EPOCHS = 20
#: Size of the ``ner`` model (tok2vec width and CNN depth, transition layer width and maxout pieces).
WIDTH, DEPTH, HIDDEN_WIDTH, MAXOUT_PIECES = 64, 2, 32, 1
#: Sentences without any span kept for training, per sentence with one.
UNMARKED_RATIO = 0.3
EBM_LABELS = {"Condition": "CONDITION", "SampleSize": "SAMPLE_SIZE"}
CONLL = "corpora/extraction/ebm_nlp_participants_train.conll"
ADE = "corpora/extraction/ade_drug_dose_dev.jsonl"


def read_conll(path: str | Path) -> list[list[tuple[str, str]]]:
    """Sentences of ``(token, label)`` from an EBM-NLP ``token<TAB>POS<TAB>label`` file.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.conll")
    >>> _ = open(path, "w").write("Ten\\tCD\\tSampleSize\\tpatients\\n".replace("\\tpatients", "")
    ...                            + "patients\\tNNS\\tO\\n\\nOK\\tUH\\tO\\n")
    >>> read_conll(path)
    [[('Ten', 'SampleSize'), ('patients', 'O')], [('OK', 'O')]]
    """
    sentences, current = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line.strip():
                if current:
                    sentences.append(current)
                    current = []
                continue
            parts = line.split("\t")
            current.append((parts[0], parts[-1]))
    if current:
        sentences.append(current)
    return sentences


def read_ade(path: str | Path) -> list[dict]:
    """Rows of the ADE drug-dose jsonl file."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def split_blocks(sentences: Sequence, seed: int = SEED, block: int = BLOCK) -> tuple[list, list, list]:
    """Seeded 80/10/10 split of consecutive-sentence blocks into train, dev and test.

    Examples
    --------
    >>> train, dev, test = split_blocks(list(range(200)), block=10)
    >>> len(train), len(dev), len(test)
    (160, 20, 20)
    >>> split_blocks(list(range(200)), block=10)[2] == test
    True
    """
    blocks = [list(sentences[i:i + block]) for i in range(0, len(sentences), block)]
    order = list(range(len(blocks)))
    random.Random(seed).shuffle(order)
    n_train, n_dev = int(len(order) * 0.8), int(len(order) * 0.1)
    pick = lambda ids: [s for i in sorted(ids) for s in blocks[i]]  # noqa: E731
    return pick(order[:n_train]), pick(order[n_train:n_train + n_dev]), pick(order[n_train + n_dev:])


def split_ade(rows: Sequence[dict], seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """Seeded half/half split of ADE rows by PMID into (dev, test)."""
    pmids = sorted({r["pmid"] for r in rows})
    random.Random(seed).shuffle(pmids)
    dev_ids = set(pmids[: len(pmids) // 2])
    return [r for r in rows if r["pmid"] in dev_ids], [r for r in rows if r["pmid"] not in dev_ids]


def _doc_with_gold(vocab, sentence: list[tuple[str, str]]) -> tuple[Doc, list[Span]]:
    words = [t for t, _ in sentence]
    doc = Doc(vocab, words=words, spaces=[True] * len(words))
    spans, i = [], 0
    while i < len(sentence):
        label = sentence[i][1]
        if label in EBM_LABELS:
            j = i
            while j < len(sentence) and sentence[j][1] == label:
                j += 1
            spans.append(Span(doc, i, j, label=EBM_LABELS[label]))
            i = j
        else:
            i += 1
    return doc, spans


def _prf(tp_p: int, n_pred: int, tp_g: int, n_gold: int) -> dict[str, float]:
    p = tp_p / n_pred if n_pred else 0.0
    r = tp_g / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(p, 4), "r": round(r, 4), "f": round(f, 4)}


def span_scores(pred: Iterable[tuple[int, int]], gold: Iterable[tuple[int, int]]) -> dict[str, object]:
    """Exact and overlap precision/recall/F1 of predicted against gold ``(start, end)`` offsets.

    Overlap precision counts predictions that share at least one position with
    some gold span; overlap recall counts gold spans that share one with some
    prediction.

    Examples
    --------
    >>> span_scores([(0, 2), (5, 6)], [(0, 2), (4, 6), (8, 9)])["exact"]
    {'p': 0.5, 'r': 0.3333, 'f': 0.4}
    >>> span_scores([(0, 2), (5, 6)], [(0, 2), (4, 6), (8, 9)])["overlap"]
    {'p': 1.0, 'r': 0.6667, 'f': 0.8}
    """
    pred, gold = list(pred), list(gold)
    exact = set(pred) & set(gold)
    overlaps = lambda a, b: a[0] < b[1] and b[0] < a[1]  # noqa: E731
    tp_p = sum(any(overlaps(p, g) for g in gold) for p in pred)
    tp_g = sum(any(overlaps(g, p) for p in pred) for g in gold)
    return {
        "exact": _prf(len(exact), len(set(pred)), len(exact), len(set(gold))),
        "overlap": _prf(tp_p, len(pred), tp_g, len(gold)),
        "n_pred": len(pred),
        "n_gold": len(gold),
    }


def _first_int(text: str):
    match = re.search(NUMBER_PATTERN, text, re.IGNORECASE)
    return parse_number(match.group(0)) if match else None


def build_pipeline(ner: Language | None = None, sources: dict[str, str] | None = None) -> Language:
    """The full pipeline: sentencizer, optional trained ``ner``, rule components, merger.

    Parameters
    ----------
    ner : Language or None
        A pipeline whose ``tok2vec``/``ner`` components are copied in.
    sources : dict or None
        Per-label choice for ``ldnscreen_mentions``.

    Examples
    --------
    >>> nlp = build_pipeline()
    >>> nlp.pipe_names
    ['sentencizer', 'ldnscreen_abbreviations', 'ldnscreen_dose', 'ldnscreen_sample_size', 'ldnscreen_condition_lexicon', 'ldnscreen_mentions']
    """
    nlp = ner if ner is not None else spacy.blank("en")
    if "sentencizer" not in nlp.pipe_names:
        nlp.add_pipe("sentencizer", first=True)
    for name in ("ldnscreen_abbreviations", "ldnscreen_dose", "ldnscreen_sample_size",
                 "ldnscreen_condition_lexicon"):
        if name not in nlp.pipe_names:
            nlp.add_pipe(name)
    config = {"sources": sources or {"DOSE": "rules", "SAMPLE_SIZE": "rules", "CONDITION": "rules"}}
    if "ldnscreen_mentions" in nlp.pipe_names:
        nlp.remove_pipe("ldnscreen_mentions")
    nlp.add_pipe("ldnscreen_mentions", config=config)
    return nlp


def _set_sources(nlp: Language, sources: dict[str, str]) -> None:
    nlp.get_pipe("ldnscreen_mentions").sources = dict(sources)
    nlp.get_pipe_config("ldnscreen_mentions")["sources"] = dict(sources)


def _score_ebm(nlp: Language, sentences, sources: dict[str, str]) -> dict[str, dict]:
    _set_sources(nlp, sources)
    pred = {label: [] for label in EBM_LABELS.values()}
    gold = {label: [] for label in EBM_LABELS.values()}
    value_total = value_correct = 0
    docs_gold = [_doc_with_gold(nlp.vocab, s) for s in sentences]
    for k, ((doc, spans), processed) in enumerate(zip(docs_gold, nlp.pipe(d for d, _ in docs_gold))):
        for s in spans:
            gold[s.label_].append((k, s.start, s.end))
        for s in processed.spans[MENTION_GROUP]:
            if s.label_ in pred:
                pred[s.label_].append((k, s.start, s.end))
            if s.label_ == "SAMPLE_SIZE":
                match = [g for g in spans if g.label_ == "SAMPLE_SIZE" and g.start < s.end and s.start < g.end]
                if match:
                    value_total += 1
                    value_correct += _first_int(s.text) == _first_int(match[0].text)
    scores = {}
    for label in pred:
        # encode sentence index into offsets so spans of different sentences never overlap
        enc = lambda xs: [(k * 10_000 + a, k * 10_000 + b) for k, a, b in xs]  # noqa: E731
        scores[label] = span_scores(enc(pred[label]), enc(gold[label]))
        # EBM-NLP leaves many true mentions unmarked; also score only the sentences where the
        # annotators marked at least one span of this label
        marked = {k for k, _, _ in gold[label]}
        scores[label]["marked_sentences"] = span_scores(
            enc([x for x in pred[label] if x[0] in marked]), enc(gold[label]))
    scores["SAMPLE_SIZE"]["value_accuracy"] = round(value_correct / value_total, 4) if value_total else 0.0
    scores["SAMPLE_SIZE"]["value_n"] = value_total
    return scores


def _score_ade(nlp: Language, rows: list[dict]) -> dict:
    by_text: dict[str, list[dict]] = {}
    for r in rows:
        by_text.setdefault(r["text"], []).append(r)
    pred, gold = [], []
    attached = attach_total = 0
    for k, (text, doc) in enumerate(zip(by_text, nlp.pipe(by_text))):
        doses = [s for s in doc.spans[MENTION_GROUP] if s.label_ == "DOSE"]
        pred += [(k * 100_000 + s.start_char, k * 100_000 + s.end_char) for s in doses]
        spans = {(r["dose_start"], r["dose_end"]) for r in by_text[text]}
        gold += [(k * 100_000 + a, k * 100_000 + b) for a, b in spans]
        for a, b in spans:
            drugs = [(r["drug_start"], r["drug_end"]) for r in by_text[text]
                     if (r["dose_start"], r["dose_end"]) == (a, b)]
            found = [s for s in doses if s.start_char < b and a < s.end_char]
            if not found:
                continue
            attach_total += 1
            drug = attach_drug(found[0])
            attached += drug is not None and any(drug.start_char < e and s < drug.end_char for s, e in drugs)
    scores = span_scores(pred, gold)
    scores["drug_attachment_accuracy"] = round(attached / attach_total, 4) if attach_total else 0.0
    scores["drug_attachment_n"] = attach_total
    return scores


def evaluate(nlp: Language, shared: str | Path, seed: int = SEED) -> dict:
    """Score a pipeline on the held-out test splits, per label, for its own sources and the alternatives.

    Returns
    -------
    dict
        ``{"performance": {label: {"exact": {p, r, f}, "overlap": {...}, ...}},
        "comparison": {label: {"rules": ..., "model": ..., "both": ...}},
        "sources": {...}, "splits": {...}}``. ``performance`` is what goes
        into ``meta.json``.
    """
    shared = Path(shared)
    _, _, test = split_blocks(read_conll(shared / CONLL), seed=seed)
    _, ade_test = split_ade(read_ade(shared / ADE), seed=seed)
    chosen = dict(nlp.get_pipe("ldnscreen_mentions").sources)
    has_model = "ner" in nlp.pipe_names
    comparison: dict[str, dict] = {label: {} for label in ("DOSE", "SAMPLE_SIZE", "CONDITION")}
    for source in ("rules", "model", "both") if has_model else ("rules",):
        scores = _score_ebm(nlp, test, {"SAMPLE_SIZE": source, "CONDITION": source, "DOSE": "rules"})
        for label, s in scores.items():
            comparison[label][source] = s
    _set_sources(nlp, chosen)
    comparison["DOSE"]["rules"] = _score_ade(nlp, ade_test)
    performance = {label: comparison[label][chosen.get(label, "rules")] for label in comparison}
    return {
        "performance": performance,
        "comparison": comparison,
        "sources": chosen,
        "splits": {
            "seed": seed,
            "ebm_block": BLOCK,
            "ebm_test_sentences": len(test),
            "ade_test_rows": len(ade_test),
        },
    }


def format_scores(result: dict) -> str:
    """A plain-text table of :func:`evaluate`'s comparison, chosen source marked with ``*``."""
    lines = [
        f"{'label':<12} {'source':<6}   {'exact P':>7} {'exact R':>7} {'exact F':>7}"
        f"   {'ovl P':>6} {'ovl R':>6} {'ovl F':>6}  {'pred':>5} {'gold':>5}  extra"
    ]
    for label, by_source in result["comparison"].items():
        for source, s in by_source.items():
            mark = "*" if result["sources"].get(label, "rules") == source else " "
            extra = ""
            if label == "SAMPLE_SIZE":
                extra = f"value accuracy {s['value_accuracy']:.3f} (n={s['value_n']})"
            if label == "DOSE":
                extra = f"drug attachment {s['drug_attachment_accuracy']:.3f} (n={s['drug_attachment_n']})"
            e, o = s["exact"], s["overlap"]
            lines.append(
                f"{label:<12} {source:<5}{mark}   {e['p']:7.3f} {e['r']:7.3f} {e['f']:7.3f}"
                f"   {o['p']:6.3f} {o['r']:6.3f} {o['f']:6.3f}  {s['n_pred']:5d} {s['n_gold']:5d}  {extra}"
            )
    lines.append("")
    lines.append("EBM-NLP, only sentences where annotators marked the label (unmarked true mentions are common):")
    for label in ("SAMPLE_SIZE", "CONDITION"):
        for source, s in result["comparison"][label].items():
            mark = "*" if result["sources"].get(label, "rules") == source else " "
            e, o = s["marked_sentences"]["exact"], s["marked_sentences"]["overlap"]
            lines.append(
                f"{label:<12} {source:<5}{mark}   {e['p']:7.3f} {e['r']:7.3f} {e['f']:7.3f}"
                f"   {o['p']:6.3f} {o['r']:6.3f} {o['f']:6.3f}  {s['marked_sentences']['n_pred']:5d} "
                f"{s['marked_sentences']['n_gold']:5d}"
            )
    splits = result["splits"]
    lines.append(
        f"test: {splits['ebm_test_sentences']} EBM-NLP sentences, {splits['ade_test_rows']} ADE rows; "
        f"seed {splits['seed']}; * = source kept in the pipeline"
    )
    return "\n".join(lines)


def _ner_config(width: int, depth: int, embed_size: int, hidden_width: int = 64, maxout_pieces: int = 2) -> dict:
    return {
        "model": {
            "@architectures": "spacy.TransitionBasedParser.v2",
            "state_type": "ner",
            "extra_state_tokens": False,
            "hidden_width": hidden_width,
            "maxout_pieces": maxout_pieces,
            "use_upper": True,
            "tok2vec": {
                "@architectures": "spacy.HashEmbedCNN.v2",
                "pretrained_vectors": None,
                "width": width,
                "depth": depth,
                "embed_size": embed_size,
                "window_size": 1,
                "maxout_pieces": 3,
                "subword_features": True,
            },
        }
    }


def train(
    shared: str | Path,
    out: str | Path,
    *,
    epochs: int = EPOCHS,
    seed: int = SEED,
    width: int = WIDTH,
    depth: int = DEPTH,
    embed_size: int = 2000,
    hidden_width: int = HIDDEN_WIDTH,
    maxout_pieces: int = MAXOUT_PIECES,
    unmarked_ratio: float = UNMARKED_RATIO,
    log=print,
) -> dict:
    """Train the ``ner``, choose sources per label on dev, save to ``out`` and evaluate on test.

    Returns
    -------
    dict
        The result of :func:`evaluate` on the saved and reloaded pipeline.
    """
    from spacy.util import fix_random_seed, minibatch

    t0 = time.perf_counter()
    shared, out = Path(shared), Path(out)
    fix_random_seed(seed)
    train_s, dev_s, _ = split_blocks(read_conll(shared / CONLL), seed=seed)
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("ner", config=_ner_config(width, depth, embed_size, hidden_width, maxout_pieces))
    # 85% of EBM-NLP sentences carry no Condition/SampleSize span, many of them wrongly so; keep every
    # sentence with a span and an equal-sized seeded sample of the others
    rng = random.Random(seed)
    marked = [x for x in train_s if any(label in EBM_LABELS for _, label in x)]
    unmarked = [x for x in train_s if not any(label in EBM_LABELS for _, label in x)]
    train_s = marked + rng.sample(unmarked, min(len(unmarked), int(len(marked) * unmarked_ratio)))
    examples = []
    for sentence in train_s:
        doc, spans = _doc_with_gold(nlp.vocab, sentence)
        reference = doc.copy()
        reference.ents = [Span(reference, s.start, s.end, label=s.label_) for s in spans]
        examples.append(Example(Doc(nlp.vocab, words=[t.text for t in doc], spaces=[True] * len(doc)), reference))
    for label in EBM_LABELS.values():
        ner.add_label(label)
    optimizer = nlp.initialize(lambda: examples)
    full = build_pipeline(spacy.blank("en"))
    best_f, best_bytes = -1.0, None
    for epoch in range(epochs):
        started = time.perf_counter()
        rng.shuffle(examples)
        losses: dict[str, float] = {}
        for batch in minibatch(examples, size=32):
            nlp.update(batch, sgd=optimizer, drop=0.2, losses=losses)
        full_model = build_pipeline(_copy_ner(nlp))
        dev_scores = _score_ebm(full_model, dev_s, {"SAMPLE_SIZE": "model", "CONDITION": "model", "DOSE": "rules"})
        f1 = {label: dev_scores[label]["marked_sentences"]["overlap"]["f"] for label in ("SAMPLE_SIZE", "CONDITION")}
        f = sum(f1.values()) / 2
        log(f"epoch {epoch + 1}: loss {losses.get('ner', 0):.1f}  dev overlap F1 (marked sentences) "
            f"SAMPLE_SIZE {f1['SAMPLE_SIZE']:.3f} CONDITION {f1['CONDITION']:.3f}  "
            f"({time.perf_counter() - started:.0f}s)")
        if f > best_f:
            best_f, best_bytes = f, nlp.to_bytes()
    nlp.from_bytes(best_bytes)
    full = build_pipeline(nlp)
    sources = {"DOSE": "rules"}
    for label in ("SAMPLE_SIZE", "CONDITION"):
        best = max(
            ("rules", "model", "both"),
            key=lambda src: _score_ebm(full, dev_s, {label: src})[label]["marked_sentences"]["overlap"]["f"],
        )
        sources[label] = best
    _set_sources(full, sources)
    log(f"sources chosen on dev: {sources}")
    full.meta.update({
        "name": "ldnscreen_extract",
        "version": "0.1.0",
        "description": "DOSE, SAMPLE_SIZE and CONDITION extraction for systematic review abstracts (ldnscreen).",
        "sources": "EBM-NLP (Nye et al. 2018) participant spans; ADE corpus drug-dose relations",
    })
    out.mkdir(parents=True, exist_ok=True)
    full.to_disk(out)
    from . import load_pipeline

    reloaded = load_pipeline(out)
    result = evaluate(reloaded, shared, seed=seed)
    write_meta_scores(out, result, training={"epochs": epochs, "seed": seed, "width": width, "depth": depth,
                                             "embed_size": embed_size, "hidden_width": hidden_width,
                                             "maxout_pieces": maxout_pieces, "unmarked_ratio": unmarked_ratio,
                                             "train_sentences": len(examples), "best_dev_f": best_f,
                                             "seconds": round(time.perf_counter() - t0)})
    return result


def _copy_ner(nlp: Language) -> Language:
    copy = spacy.blank("en", vocab=nlp.vocab)
    copy.add_pipe("ner", source=nlp)
    return copy


def write_meta_scores(path: str | Path, result: dict, training: dict | None = None) -> None:
    """Store the evaluation in the pipeline's ``meta.json`` (``performance`` plus details)."""
    meta_path = Path(path) / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["performance"] = result["performance"]
    previous = meta.get("ldnscreen", {}).get("training")
    meta["ldnscreen"] = {k: v for k, v in result.items() if k != "performance"}
    if training is not None or previous is not None:
        meta["ldnscreen"]["training"] = training if training is not None else previous
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train (``--out``) or evaluate (``--evaluate``)."""
    parser = argparse.ArgumentParser(prog="python -m ldnscreen.extract.train", description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default="../shared", help="folder holding corpora/extraction")
    parser.add_argument("--out", default="models/ldnscreen_extract", help="where to write the trained pipeline")
    parser.add_argument("--evaluate", metavar="MODEL", help="only evaluate this pipeline directory")
    parser.add_argument("--write-meta", action="store_true",
                        help="with --evaluate: store the scores in the pipeline's meta.json")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--width", type=int, default=WIDTH, help="width of the tok2vec")
    parser.add_argument("--depth", type=int, default=DEPTH, help="CNN depth of the tok2vec")
    parser.add_argument("--hidden-width", type=int, default=HIDDEN_WIDTH, help="width of the transition layer")
    parser.add_argument("--maxout-pieces", type=int, default=MAXOUT_PIECES, help="maxout pieces of the transition layer")
    parser.add_argument("--unmarked-ratio", type=float, default=UNMARKED_RATIO,
                        help="sentences without spans kept for training, per sentence with one")
    args = parser.parse_args(argv)
    if args.evaluate:
        from . import load_pipeline

        result = evaluate(load_pipeline(args.evaluate), args.shared, seed=args.seed)
        if args.write_meta:
            write_meta_scores(args.evaluate, result)
    else:
        result = train(args.shared, args.out, epochs=args.epochs, seed=args.seed, width=args.width,
                       depth=args.depth, hidden_width=args.hidden_width, maxout_pieces=args.maxout_pieces,
                       unmarked_ratio=args.unmarked_ratio,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_scores(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

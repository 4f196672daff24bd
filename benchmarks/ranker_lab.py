"""Ranker experiments of issue #3 (sessions 2-6): variants of the active learner, 16 reviews x seeds.

Each variant is an :class:`~ldnscreen.rankers.ActiveLearner` subclass run through
:func:`ldnscreen.simulate.simulate` exactly as the benchmark runs the default. The
baseline ``base`` is the session-1 default (one model with the title field, liblinear
dual at tol 1e-2, inclusions 10x their balanced weight); the others change one thing
against it. Rows go to ``--out`` (CSV, appended); ``--compare`` prints per-dataset WSS@95
against ``base`` and against ASReview elas_u4's runs in a ``runs.csv`` of
``benchmarks/screening.py``.

    nice -n 5 .venv/bin/python benchmarks/ranker_lab.py base views pn100 --seeds 0-4
    .venv/bin/python benchmarks/ranker_lab.py --compare base views pn100 \\
        --peer-runs benchmarks/.work/combined/runs.csv

``LDNSCREEN_LAB_LIB=DIR`` imports ``ldnscreen`` from ``DIR`` (a frozen copy, e.g. ``git archive HEAD
ldnscreen | tar -x -C DIR``) instead of the working tree, for runs while the library is being edited.

Variants (names are parsed, so new settings need no code):

``base``                    the session-1 default
``views`` / ``views:vw=0.65``  + a second model without the title field, log-odds averaged
                            (``vw`` = weight of the title-field model)
``pn100`` / ``pn100w0.3`` / ``pn100u100``  + 100 random unscreened records as presumed
                            exclusions at each retrain (CAL/BMI), weight 0.3, or only
                            while at most 100 records are labelled
``combo:m=100,w=0.3``       views + presumed exclusions (``until=100`` as above)
``centroid0.5``             rank-average with cosine similarity to the inclusions' centroid
``lsa:k=100,w=0.5``         + 100 LSA (truncated SVD) dimensions appended to TF-IDF
``mix:nb=0.5,alpha=0.1``    + multinomial naive Bayes, standardised margins averaged
``kwfield:w=0.5``            whole keywords as a third field (full view only)
``pairs:w=1.4``              word-pair columns weighted w (each field keeps its norm)
``short:eta=1,q=0.2``         records without an abstract also scored by a model of the labelled
                            records' titles and keywords, mixed in with weight ``a`` or, with
                            ``eta``, a Hedge weight over those records' labels starting at ``q``
``mv:v=full+body+full@0.1``  any number of views under the default's online weighting (see
                            ``MultiView``; ``loss=rank``, ``comb=z``, ``eta=``, ``g=``); views
                            ``full``, ``body``, ``uni``, ``unibody`` and ``emb`` (word vectors
                            trained on the review, :func:`_embedding_matrix`); ``comb=rrf`` /
                            ``comb=max`` fuse the views' rankings; ``sel=loo`` weights them by
                            leave-one-out ranks of the inclusions found (``leta=``)
``nn:w=0.25,k=3``             session 6: ``z(margin) + w z(similarity to the nearest labelled
                            inclusion)`` (``k``: mean of the k nearest; ``x``: minus x times the
                            nearest exclusion's), both standardised over the unscreened records
``nnh:w=0.5,eta=1``          the same bonus with its weight learnt online (Hedge, as the views)
``ema:d=0.5``                rank by an exponential moving average of standardised margins
``under:enough=30,r=1``      FASTREAD's aggressive undersampling of the labelled exclusions
``s6``                       the session-6 hook with no change (the session-5 default's orders: nearest inclusions off)
``default`` / ``mindf1`` / ``once``  the current default (two views, exact solver); with
                            ``TextFeatures(min_df=1)``; the same with each record's once-seen
                            terms collapsed into one column per record and field
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.preprocessing import normalize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if os.environ.get("LDNSCREEN_LAB_LIB"):  # a frozen copy of the library (e.g. `git archive HEAD ldnscreen`)
    sys.path.insert(0, os.environ["LDNSCREEN_LAB_LIB"])

from ldnscreen.features import TextFeatures  # noqa: E402
from ldnscreen.rankers import ActiveLearner, InclusionClassifier  # noqa: E402
from ldnscreen import rankers as _rankers  # noqa: E402

# The variants below override the learner's view fits, some changing its labels around them: the
# views are fitted one after the other here, never in two threads (the same numbers either way).
_rankers._PARALLEL_VIEWS_RECORDS = float("inf")


def _base_classifier():
    return InclusionClassifier(dual=True, tol=1e-2, inclusion_boost=10.0)


class LabLearner(ActiveLearner):
    """The session-1 default (``body_view=0``, liblinear) plus ``options`` read by the subclasses."""

    def __init__(self, classifier=None, random_state=None, body_view=0.0, options=None):
        super().__init__(classifier=classifier if classifier is not None else _base_classifier(),
                         random_state=random_state, body_view=body_view)
        self.options = dict(options or {})

    def _presumed(self, labelled):
        """Rows, targets and weights with presumed exclusions drawn from the unscreened records."""
        m, until = int(self.options.get("m", 0)), self.options.get("until")
        unlabelled = np.flatnonzero(self.labels_ < 0)
        m = min(m, unlabelled.size)
        if until is not None and labelled.size > int(until):
            m = 0
        extra = self.rng_.choice(unlabelled, size=m, replace=False) if m else np.zeros(0, dtype=int)
        rows = np.concatenate([labelled, extra])
        y = np.concatenate([self.labels_[labelled].astype(np.int64), np.zeros(m, np.int64)])
        weights = np.concatenate([np.ones(labelled.size), np.full(m, float(self.options.get("w", 1.0)))])
        return rows, y, weights

    def _fit_margin(self, X, rows, y, weights):
        X_rows = X[rows]
        columns = np.unique(X_rows.indices)
        classifier = self._estimator
        classifier.fit(X_rows[:, columns], y, sample_weight=weights)
        coef = np.zeros(X.shape[1], dtype=np.float32)
        coef[columns] = classifier.coef_.ravel()
        self.classifier_ = classifier
        return np.asarray(X @ coef, dtype=np.float64) + float(classifier.intercept_[0]), coef

    def _body_matrix(self):
        if not hasattr(self, "_lab_body"):
            self._lab_body = normalize(self.X_[:, : self._text_columns()])
        return self._lab_body

    def _fit_and_score(self):
        labelled = np.flatnonzero(self.labels_ >= 0)
        rows, y, weights = self._presumed(labelled)
        self.n_fits_ += 1
        self.n_labels_at_fit_ = labelled.size
        margin, self.coef_ = self._fit_margin(self.X_, rows, y, weights)
        if self.options.get("views"):
            body, _ = self._fit_margin(self._body_matrix(), rows, y, weights)
            vw = float(self.options.get("vw", 0.5))
            margin = vw * margin + (1.0 - vw) * body
        self.model_scores_ = self._post(expit(margin))

    def _post(self, p):
        return p


class Centroid(LabLearner):
    def _post(self, p):
        alpha = float(self.options.get("alpha", 0.5))
        centroid = np.asarray(self.X_[self.labels_ == 1].mean(axis=0)).ravel().astype(np.float32)
        similarity = np.asarray(self.X_ @ centroid, dtype=np.float64)
        rank = lambda a: np.argsort(np.argsort(a)) / len(a)  # noqa: E731
        return (1 - alpha) * rank(p) + alpha * rank(similarity)


class NaiveBayesMix(LabLearner):
    def _post(self, p):
        p = np.clip(p, 1e-12, 1 - 1e-12)
        z = lambda a: (a - a.mean()) / (a.std() + 1e-12)  # noqa: E731
        labelled = np.flatnonzero(self.labels_ >= 0)
        y, X = self.labels_[labelled], self.X_[labelled]
        alpha = float(self.options.get("alpha", 1.0))
        s1 = np.asarray(X[y == 1].sum(axis=0)).ravel() + alpha
        s0 = np.asarray(X[y == 0].sum(axis=0)).ravel() + alpha
        w = (np.log(s1 / s1.sum()) - np.log(s0 / s0.sum())).astype(np.float32)
        nb = float(self.options.get("nb", 1.0))
        return expit((z(np.log(p) - np.log1p(-p)) + nb * z(np.asarray(self.X_ @ w, np.float64))) / (1 + nb))


class LSA(LabLearner):
    def fit_features(self, records):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.preprocessing import normalize

        super().fit_features(records)
        k = min(int(self.options.get("k", 100)), min(self.X_.shape) - 1)
        Z = TruncatedSVD(k, random_state=0, n_iter=4).fit_transform(self.X_)
        Z = normalize(Z) * float(self.options.get("w", 0.5))
        self.X_ = normalize(sp.hstack([self.X_, sp.csr_matrix(Z.astype(np.float32))]).tocsr()).astype(np.float32)
        return self


class OnceColumns(ActiveLearner):
    """The current default with ``min_df=1``, each record's once-seen terms collapsed into one column.

    A term with document frequency 1 appears in one record only, so its weight moves only that
    record's margin; under the L2 penalty all of a record's once-seen terms act as one column
    whose value is their norm. The ranking should equal ``TextFeatures(min_df=1)``'s with one
    extra non-zero per record and field instead of dozens.
    """

    def __init__(self, random_state=None):
        super().__init__(features=TextFeatures(min_df=1), random_state=random_state)

    def fit_features(self, records):
        super().fit_features(records)
        X = self.X_.tocsc()
        n_text = len(self.features_.text_vectorizer_.vocabulary_)
        blocks, widths = [], []
        for lo, hi in ((0, n_text), (n_text, X.shape[1])):
            block = X[:, lo:hi]
            once = np.diff(block.indptr) == 1
            kept = block[:, ~once]
            squares = np.asarray(block[:, once].multiply(block[:, once]).sum(axis=1)).ravel()
            collapsed = sp.diags(np.sqrt(squares).astype(np.float32)).tocsc()
            blocks += [kept, collapsed]
            widths.append(kept.shape[1] + collapsed.shape[1])
        self.X_ = sp.hstack(blocks).tocsr().astype(np.float32)
        self._lab_text_width = widths[0]
        self._views = [type(self._views[0])(self.X_)]
        self._column_mask = np.zeros(self.X_.shape[1], dtype=bool)
        return self

    def _text_columns(self):
        return self._lab_text_width


class SvmMix(ActiveLearner):
    """The default learner (once-seen terms collapsed) with a squared-hinge linear SVM beside each view's LR.

    The SVM (liblinear, ``C`` option, the same per-class costs as the LR) is fitted on the same
    rows; the two margins are standardised over all records and averaged with weight ``w`` for
    the SVM (``w=1``: the SVM alone), then put back on the LR's scale.
    """

    def __init__(self, random_state=None, options=None):
        super().__init__(features=TextFeatures(min_df=1), random_state=random_state)
        self.options = options

    def _fit_kernel(self, view, *args):
        return self._mix(view, super()._fit_kernel(view, *args))

    def _fit_sklearn(self, view, *args):
        return self._mix(view, super()._fit_sklearn(view, *args))

    def _mix(self, view, margin):
        from sklearn.svm import LinearSVC

        from ldnscreen.logistic import costs_from_counts

        options = self.options or {}
        w, C = float(options.get("w", 0.5)), float(options.get("C", 0.11))
        labelled = np.flatnonzero(self.labels_ >= 0)
        y = self.labels_[labelled].astype(np.int64)
        neg, pos = costs_from_counts(self._counts[0], self._counts[1], 1.0, "balanced", float(options.get("boost", 10.0)))
        svm = LinearSVC(C=C, loss="squared_hinge", dual=True, tol=1e-3, max_iter=2000)
        svm.fit(view.X[labelled], y, sample_weight=np.where(y == 1, pos, neg))
        other = np.asarray(view.X @ svm.coef_.ravel().astype(view.X.dtype), dtype=np.float64) + float(svm.intercept_[0])
        mu, sd = margin.mean(), margin.std() or 1.0
        z = (1.0 - w) * (margin - mu) / sd + w * (other - other.mean()) / (other.std() or 1.0)
        return mu + sd * z


class FeatureVariant(ActiveLearner):
    """The default learner whose feature matrix :meth:`_matrix` changes (``options`` from the variant name).

    A subclass that moves the whole-text columns sets ``_lab_text_width`` (the body view's width).
    """

    def __init__(self, random_state=None, options=None):
        super().__init__(features=TextFeatures(), random_state=random_state)
        self.options = options

    def fit_features(self, records):
        from sklearn.base import clone

        records = list(records)
        self.features_ = clone(self.features)
        self._lab_text_width = None
        self._start(self._matrix(records, self.features_.fit_transform(records)))
        return self

    def _matrix(self, records, X):
        raise NotImplementedError

    def _text_columns(self):
        return super()._text_columns() if self._lab_text_width is None else self._lab_text_width


def _pair_columns(features) -> np.ndarray:
    """Per column of fitted :class:`TextFeatures`: is it a word pair (not a column of once-seen terms)?"""
    from ldnscreen.features import ONCE_COLUMN_PREFIX

    plain = (name.removeprefix("title:") for name in features.get_feature_names_out())
    return np.array([" " in name and not name.startswith(ONCE_COLUMN_PREFIX) for name in plain])


class CharGrams(FeatureVariant):
    """The default learner with character 3-5-grams within words (``w`` times, min_df 2) beside the words.

    Both views get them: the layout is [whole text | character n-grams | title field], the body
    view being the first two blocks. Character n-grams tie word forms together (drug stems,
    plurals, spelling variants) that word n-grams keep apart.
    """

    def _matrix(self, records, X):
        from sklearn.feature_extraction.text import TfidfVectorizer

        from ldnscreen.features import record_texts

        n_text = self.features_.n_text_features_
        texts, _ = record_texts(records)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, max_df=0.95, sublinear_tf=True,
                                dtype=np.float32).fit_transform(texts)
        chars = chars * float((self.options or {}).get("w", 0.5))
        self._lab_text_width = n_text + chars.shape[1]
        return normalize(sp.hstack([X[:, :n_text], chars, X[:, n_text:]], format="csr")).astype(np.float32)

class HedgeViews(ActiveLearner):
    """The default learner with the two views weighted online by how well each predicted the labels that came.

    Before each retrain, every record labelled since the previous fit is scored by the log-loss
    of each view's last prediction for it (its probability from that view alone); the body view's
    weight is ``exp(-eta L_body) / (exp(-eta L_full) + exp(-eta L_body))`` over the cumulative
    losses, kept within ``[lo, 1 - lo]`` (Hedge, Freund and Schapire 1997).
    """

    def __init__(self, random_state=None, options=None):
        super().__init__(features=TextFeatures(min_df=1), random_state=random_state)
        self.options = options

    def _start(self, X):
        super()._start(X)
        self._lab_margins, self._lab_seen, self._lab_loss = {}, 0, np.zeros(2)

    def _fit_kernel(self, view, *args):
        margin = super()._fit_kernel(view, *args)
        self._lab_margins[0 if view is self._views[0] else 1] = margin.copy()
        return margin

    def _fit_sklearn(self, view, *args):
        margin = super()._fit_sklearn(view, *args)
        self._lab_margins[0 if view is self._views[0] else 1] = margin.copy()
        return margin

    def _fit_and_score(self):
        options = self.options or {}
        eta, lo = float(options.get("eta", 1.0)), float(options.get("lo", 0.2))
        rows = self._labelled
        new = rows[self._lab_seen :]
        if len(self._lab_margins) == 2 and len(new):
            s = np.where(self.labels_[new] == 1, 1.0, -1.0)
            for v in (0, 1):
                self._lab_loss[v] += float(np.logaddexp(0.0, -s * self._lab_margins[v][new]).sum())
        self._lab_seen = len(rows)
        if len(self._lab_margins) == 2:
            d = eta * (self._lab_loss[1] - self._lab_loss[0])
            self.body_view = float(np.clip(expit(-d), lo, 1.0 - lo))
        super()._fit_and_score()


class MultiView(ActiveLearner):
    """The default learner with any number of views weighted online (Hedge over all of them).

    ``v`` lists the views, ``+``-separated: ``full`` (every column), ``body`` (the whole-text
    columns), ``uni`` / ``unibody`` (the same without word pairs), each optionally ``@m`` to
    train it with ``m`` times the default C. Every view is charged the log-loss of its last
    prediction for each new label; weights are ``(1 - g) softmax(-eta L) + g / n`` (``g``:
    share spread evenly, so no view is ever dropped; with two views ``g = 0.4`` is the
    default's [0.2, 0.8]).
    """

    def __init__(self, random_state=None, options=None):
        super().__init__(random_state=random_state, body_view=0.0, view_learning_rate=0.0)
        self.options = options

    def _start(self, X):
        super()._start(X)
        self._mv = None

    def fit_features(self, records):
        from ldnscreen.features import record_texts

        records = list(records)
        self._lab_texts = record_texts(records)[0]
        return super().fit_features(records)

    def _build_views(self):
        from ldnscreen.rankers import _View

        options = self.options or {}
        pair = _pair_columns(self.features_)
        n_text = self._text_columns() or self.X_.shape[1]
        text = np.arange(self.X_.shape[1]) < n_text
        views = []
        for spec in options.get("v", "full+body").split("+"):
            kind, _, mult = spec.partition("@")
            if kind == "full":
                keep = None
            elif kind == "body":
                keep = text
            elif kind == "uni":
                keep = ~pair
            elif kind == "unibody":
                keep = text & ~pair
            elif kind == "emb":
                views.append((_View(_embedding_matrix(self._lab_texts, options)), float(mult or 1.0)))
                continue
            else:
                raise SystemExit(f"unknown view {kind!r}")
            if keep is None:
                X = self.X_
            else:
                X = normalize(self.X_[:, np.flatnonzero(keep)])
                X.sort_indices()
            views.append((_View(X), float(mult or 1.0)))
        self._views = [view for view, _ in views]
        self._mv = views
        self._mv_loss = np.zeros(len(views))
        self._mv_margins = None
        self._mv_seen = 0

    def _loo_losses(self, margins, targets):
        """Per view: the held-out inclusions' mean share of the unscreened records ranked above them
        (``sel=loo``; recomputed when the labels grew by 5 % or a new inclusion came, else kept)."""
        options = self.options or {}
        s, cost = targets
        n_inc = int((s > 0).sum())
        last = getattr(self, "_loo_at", None)
        if last is not None and n_inc == last[1] and len(s) < last[0] * 1.05:
            return self._mv_loss
        self._loo_at = (len(s), n_inc)
        if n_inc < 2:
            return np.zeros(len(margins))
        pool = np.flatnonzero(self.labels_ < 0)
        scale = float(options.get("leta", 1.0)) * n_inc
        losses = []
        for (view, mult), margin in zip(self._mv, margins):
            loo = _loo_margins(view.gram.K, view.beta, s, cost * mult)[s > 0]
            ranked = np.sort(margin[pool])
            above = 1.0 - np.searchsorted(ranked, loo, side="right") / len(ranked)
            losses.append(scale * float(above.mean()))
        self.loo_losses_ = np.array(losses) / scale
        return np.array(losses)

    def _fit_and_score(self):
        if self._mv is None:
            self._build_views()
        options = self.options or {}
        eta, share = float(options.get("eta", 1.0)), float(options.get("g", 0.4))
        rows = self._labelled
        new = rows[self._mv_seen :]
        if self._mv_margins is not None and len(new):
            s = np.where(self.labels_[new] == 1, 1.0, -1.0)
            pool = np.union1d(np.flatnonzero(self.labels_ < 0), new)
            only_inc = options.get("inc", "0") == "1"
            for v, margins in enumerate(self._mv_margins):
                if options.get("loss", "log") == "log":
                    self._mv_loss[v] += float(np.logaddexp(0.0, -s * margins[new]).sum())
                    continue
                ranked = np.sort(margins[pool])
                for i, sign in zip(new, s):
                    if sign > 0:  # share of the pool the view put above this inclusion
                        self._mv_loss[v] += 1.0 - np.searchsorted(ranked, margins[i], side="right") / len(ranked)
                    elif not only_inc:  # share it put below this exclusion
                        self._mv_loss[v] += np.searchsorted(ranked, margins[i], side="left") / len(ranked)
        self._mv_seen = len(rows)
        classifier = self._estimator
        self.n_fits_ += 1
        kernel = self._kernel and self.n_labels <= classifier.max_kernel_rows
        targets = self._kernel_targets() if kernel else None
        margins = [_fit_view(self, view, targets, mult) for view, mult in self._mv]
        self.coef_ = self._mv[0][0].coef
        self.classifier_ = classifier
        self.n_labels_at_fit_ = self.n_labels
        self._mv_margins = [m.copy() for m in margins]
        n = len(margins)
        if options.get("sel") == "loo" and kernel:
            self._mv_loss = self._loo_losses(margins, targets)
        z = -eta * (self._mv_loss - self._mv_loss.min())
        w = np.exp(z)
        w /= w.sum()
        w = (1.0 - share) * w + share / n
        self.view_weights_ = w
        comb = options.get("comb", "margin")
        if comb in ("rrf", "max"):  # rank fusion over the unscreened records (screened ones are never asked)
            pool = np.flatnonzero(self.labels_ < 0)
            fused = np.zeros(len(margins[0]))
            if comb == "rrf":  # reciprocal rank fusion (Cormack et al. 2009), views weighted
                k = float(options.get("k", 60))
                for wi, m in zip(w, margins):
                    rank = np.empty(len(pool))
                    rank[np.argsort(-m[pool], kind="stable")] = np.arange(1, len(pool) + 1)
                    fused[pool] += wi / (k + rank)
            else:  # CombMAX of standardised margins
                fused[pool] = np.max([(m[pool] - m[pool].mean()) / (m[pool].std() or 1.0) for m in margins], axis=0)
            self.model_scores_ = expit(fused) if comb == "max" else fused
            return
        if comb == "z":
            margins = [(m - m.mean()) / (m.std() or 1.0) for m in margins]
        margin = sum(wi * m for wi, m in zip(w, margins))
        self.model_scores_ = expit(margin)


def _embedding_matrix(texts, options) -> sp.csr_matrix:
    """Records as TF-IDF-weighted means of word vectors learned on the review's own texts (unit rows).

    Word vectors: truncated SVD (``k`` dimensions) of the positive pointwise mutual information of
    words seen at least ``minc`` times within ``win`` words of each other (context counts smoothed
    by the power 0.75), each word's vector ``U sqrt(S)`` (Levy, Goldberg and Dagan 2015). Words that
    never meet in one document are tied when they share neighbours - what TF-IDF cannot do.
    """
    import re

    from sklearn.utils.extmath import randomized_svd

    k, window, min_count = int(options.get("k", 100)), int(options.get("win", 5)), int(options.get("minc", 3))
    token = re.compile(r"\b\w\w+\b")
    docs = [token.findall(t.lower()) for t in texts]
    counts: dict[str, int] = {}
    for d in docs:
        for w in d:
            counts[w] = counts.get(w, 0) + 1
    vocab = {w: i for i, w in enumerate(sorted(w for w, c in counts.items() if c >= min_count))}
    ids = [np.array([vocab[w] for w in d if w in vocab], dtype=np.int64) for d in docs]
    V = len(vocab)
    rows, cols = [], []
    for a in ids:
        for off in range(1, window + 1):
            if len(a) > off:
                rows += [a[:-off], a[off:]]
                cols += [a[off:], a[:-off]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    C = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(V, V)).tocsr()
    C.sum_duplicates()
    total = C.sum()
    row_sum = np.asarray(C.sum(axis=1)).ravel()
    col_p = np.asarray(C.sum(axis=0)).ravel() ** 0.75
    col_p /= col_p.sum()
    C = C.tocoo()
    pmi = np.log(C.data * 1.0 / total) - np.log(row_sum[C.row] / total) - np.log(col_p[C.col])
    keep = pmi > 0
    P = sp.csr_matrix((pmi[keep], (C.row[keep], C.col[keep])), shape=(V, V))
    U, S, _ = randomized_svd(P, n_components=min(k, V - 1), random_state=0)
    W = U * np.sqrt(S)
    n = len(ids)
    df = np.zeros(V)
    for a in ids:
        df[np.unique(a)] += 1
    idf = np.log((1 + n) / (1 + df)) + 1
    D = np.zeros((n, W.shape[1]))
    for j, a in enumerate(ids):
        if len(a):
            terms, tf = np.unique(a, return_counts=True)
            D[j] = ((1 + np.log(tf)) * idf[terms]) @ W[terms]
    D = normalize(D)
    return sp.csr_matrix(D.astype(np.float32))


def _loo_margins(G, beta, s, cost):
    """Approximate leave-one-out margins of the labelled rows of a kernel logistic fit.

    One Newton step from the optimum without row ``i`` (Sherman-Morrison on the Hessian):
    ``m_-i = m_i - beta_i S_ii / (1 - w_i S_ii)`` with ``S = (G^-1 + W)^-1`` and
    ``w_i = c_i p_i (1 - p_i)`` - the Laplace cavity of Gaussian-process classification.
    """
    from scipy.linalg import cho_factor, solve_triangular

    m = G @ beta
    p = expit(s * m)
    w = cost * p * (1.0 - p)
    sw = np.sqrt(w)
    B = np.eye(len(s)) + sw[:, None] * G * sw[None, :]
    L, _ = cho_factor(B, lower=True)
    V = solve_triangular(L, sw[:, None] * G, lower=True, check_finite=False)
    S = np.diag(G) - np.einsum("ij,ij->j", V, V)
    return m - beta * S / (1.0 - w * S)


class PairWeight(FeatureVariant):
    """The default learner with word-pair columns scaled by ``w`` (rows re-normalised per field).

    Pairs are 60-80 % of the columns; ``w < 1`` leans on single words, ``w > 1`` on phrases.
    """

    def _matrix(self, records, X):
        scale = np.where(_pair_columns(self.features_), float((self.options or {}).get("w", 0.7)), 1.0).astype(np.float32)
        n_text = self.features_.n_text_features_
        blocks = []
        for block, w in ((X[:, :n_text], scale[:n_text]), (X[:, n_text:], scale[n_text:])):
            norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())  # each field keeps its share
            blocks.append(sp.diags(norms) @ normalize(block @ sp.diags(w)))
        X = sp.hstack(blocks, format="csr").astype(np.float32)
        X.sort_indices()
        return X

class KeywordField(FeatureVariant):
    """The default learner with each keyword (MeSH heading, author keyword) as one term of a third field.

    Layout [whole text | title field | keyword field]: the keyword field (TF-IDF over whole
    keywords, lower-cased, sublinear, L2) weighs ``w`` like the title field's 0.5, in the full
    view only; the rows are re-normalised. Records without keywords are unchanged.
    """

    def _matrix(self, records, X):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._lab_text_width = self.features_.n_text_features_
        keywords = [[k.strip().lower() for k in r.keywords if k.strip()] if hasattr(r, "keywords") else [] for r in records]
        if any(keywords):
            K = TfidfVectorizer(analyzer=lambda ks: ks, sublinear_tf=True, max_df=0.95, dtype=np.float32).fit_transform(keywords)
            K = K * float((self.options or {}).get("w", 0.5))
            X = normalize(sp.hstack([X, K], format="csr")).astype(np.float32)
            X.sort_indices()
        return X

def _fit_view(learner, view, targets, mult=1.0):
    """Log-odds of inclusion of every record from a model of one extra view, trained with ``mult`` x C:
    by the exact kernel solver given the kernel ``targets``, else through scikit-learn (its own clone)."""
    if targets is not None:
        return learner._fit_kernel(view, (targets[0], targets[1] * mult))
    from sklearn.base import clone

    view.gram = None
    if view.estimator is None:
        classifier = learner._estimator
        view.estimator = clone(classifier).set_params(C=classifier.C * mult)
    return learner._fit_sklearn(view, view.estimator)


class ShortText(ActiveLearner):
    """The default learner with records that have no abstract scored by a model of short texts.

    A record without an abstract is only its title (and keywords), while the default's models
    learn mostly from abstracts' words, so such records score low whatever their topic. A third
    model is trained on the labelled records with their abstracts removed (the same fitted
    features) and, for records without an abstract, its log-odds replace (``a=1``) or are mixed
    with (``a``) the default's. Reviews whose records all have abstracts are unchanged.
    ``min=N``: also treat abstracts of fewer than N words as missing.
    """

    def __init__(self, random_state=None, options=None):
        super().__init__(random_state=random_state)
        self.options = options or {}

    def fit_features(self, records):
        from dataclasses import replace as _replace

        from ldnscreen.rankers import _View

        records = list(records)
        super().fit_features(records)
        shortest = int(self.options.get("min", 1))
        missing = np.array([len((getattr(r, "abstract", "") or "").split()) < shortest for r in records])
        self._st_rows = np.flatnonzero(missing)
        self._st_view = None
        self._st_last, self._st_loss = None, np.zeros(2)
        if self._st_rows.size:
            stripped = [_replace(r, abstract="") for r in records]
            Xs = self.features_.transform(stripped).astype(np.float32)
            Xs.sort_indices()
            self._st_view = _View(Xs)
        return self

    def _fit_and_score(self):
        super()._fit_and_score()
        if self._st_view is None:
            return
        kernel = self._kernel and self.n_labels <= self._estimator.max_kernel_rows
        short = _fit_view(self, self._st_view, self._kernel_targets() if kernel else None)
        p = np.clip(self.model_scores_[self._st_rows], 1e-12, 1 - 1e-12)
        old = np.log(p) - np.log1p(-p)
        a = float(self.options.get("a", 1.0))
        if "eta" in self.options:  # Hedge between the two on the records without abstract labelled since
            eta, lo = float(self.options["eta"]), float(self.options.get("lo", 0.0))
            labels = self.labels_[self._st_rows]
            if self._st_last is not None:
                new = (labels >= 0) & ~self._st_labelled
                if new.any():
                    sign = np.where(labels[new] == 1, 1.0, -1.0)
                    for k, margin in enumerate(self._st_last):
                        self._st_loss[k] += float(np.logaddexp(0.0, -sign * margin[new]).sum())
            self._st_labelled = labels >= 0
            self._st_last = (old.copy(), short[self._st_rows].copy())
            q = float(self.options.get("q", 0.5))
            d = np.log(q) - np.log1p(-q) - eta * (self._st_loss[1] - self._st_loss[0])
            a = lo + (1.0 - 2.0 * lo) * float(expit(d))
            self.short_weight_ = a
        self.model_scores_[self._st_rows] = expit((1.0 - a) * old + a * short[self._st_rows])


_S_STEM_WORD = None


def s_stem(text: str, shortest: int = 4) -> str:
    """``text`` with every word of ``shortest`` or more letters through Harman's (1991) S-stemmer.

    The first rule that applies: ``-ies`` (not ``-eies``, ``-aies``) -> ``-y``; ``-es`` (not
    ``-aes``, ``-ees``, ``-oes``) -> ``-e``; ``-s`` (not ``-us``, ``-ss``) -> nothing.

    >>> s_stem("Patients' studies of analyses, trials and diabetes in mice; bus pass")
    "Patient' study of analyse, trial and diabete in mice; bus pass"
    """
    import re

    global _S_STEM_WORD
    if _S_STEM_WORD is None:
        _S_STEM_WORD = re.compile(r"\b\w{%d,}\b" % shortest)

    def stem(match):
        w = match.group(0)
        lw = w.lower()
        if lw.endswith("ies") and not lw.endswith(("eies", "aies")):
            return w[:-3] + "y"
        if lw.endswith("es") and not lw.endswith(("aes", "ees", "oes")):
            return w[:-1]
        if lw.endswith("s") and not lw.endswith(("us", "ss")):
            return w[:-1]
        return w

    return _S_STEM_WORD.sub(stem, text)


class Stem(ActiveLearner):
    """The default learner on texts (title, abstract, keywords) through Harman's S-stemmer
    (plurals folded: ``trials`` -> ``trial``, ``studies`` -> ``study``); ``min=4``: shortest word stemmed."""

    def __init__(self, random_state=None, options=None):
        super().__init__(random_state=random_state)
        self.options = options

    def fit_features(self, records):
        from dataclasses import replace as _replace

        shortest = int((self.options or {}).get("min", 4))
        stemmed = [_replace(r, title=s_stem(r.title or "", shortest), abstract=s_stem(r.abstract or "", shortest),
                            keywords=tuple(s_stem(k, shortest) for k in r.keywords)) for r in records]
        return super().fit_features(stemmed)


class TruncatedNewton(ActiveLearner):
    """The default learner with at most ``k`` Newton steps per retrain (``newton:k=1``).

    Each retrain starts from the previous solution (one new labelled row), so a step or two
    tracks the optimum; the default iterates to a relative gradient of 1e-10 (~3.8 steps and
    2.4 Cholesky factorisations per solve on nsaids).
    """

    def __init__(self, random_state=None, options=None):
        super().__init__(random_state=random_state)
        self.options = options

    def _fit_kernel(self, view, targets=None):
        import ldnscreen.rankers as rankers

        exact = rankers.newton_kernel
        steps = int((self.options or {}).get("k", 1))
        rankers.newton_kernel = lambda *a, **kw: exact(*a, **{**kw, "max_iter": min(kw.get("max_iter", 100), steps)})
        try:
            return super()._fit_kernel(view, targets)
        finally:
            rankers.newton_kernel = exact


class Session6(ActiveLearner):
    """The default learner whose final margin :meth:`_adjust` may change (session 6 variants).

    The default's margin is ``(1 - w) m_full + w m_body`` (its two views under the Hedge
    weight ``w``); it is rebuilt here from the views' kept margins, so nothing of the default's
    fit, view weighting or view losses changes - only what the records are ranked by.
    """

    def __init__(self, random_state=None, options=None):
        super().__init__(random_state=random_state, neighbour_weight=0.0)  # (its variants add their own)
        self.options = options

    def _fit_and_score(self):
        super()._fit_and_score()
        if self._view_margins is not None:
            full, body = self._view_margins
            w = self.body_weight_
            margin = (1.0 - w) * full + w * body
        else:
            p = np.clip(self.model_scores_, 1e-15, 1 - 1e-15)
            margin = np.log(p) - np.log1p(-p)
        self.model_scores_ = expit(self._adjust(margin))

    def _adjust(self, margin):
        return margin


def _z(values, rows):
    """``values`` standardised by their mean and standard deviation over ``rows``."""
    part = values[rows]
    sd = part.std()
    return (values - part.mean()) / (sd if sd > 0 else 1.0)


class NearestInclusion(Session6):
    """The default plus ``w`` x the standardised similarity of each record to its nearest inclusion.

    Every record keeps its largest cosine similarity (full view, unit rows) to any labelled
    inclusion, updated by one sparse matrix-vector product per new inclusion; ``x`` > 0 subtracts
    ``x`` times its largest similarity to a labelled exclusion (one product per new exclusion);
    ``k`` > 1 uses the mean of the ``k`` largest similarities to inclusions instead of the largest.
    The score is ``z(margin) + w z(similarity)``, both standardised over the unscreened records.
    A tail inclusion that resembles one earlier inclusion, not the inclusions' centroid, gains.
    """

    def _start(self, X):
        super()._start(X)
        self._nn_X = None

    def _adjust(self, margin):
        options = self.options or {}
        w, x = float(options.get("w", 0.5)), float(options.get("x", 0.0))
        if self._nn_X is None:
            self._nn_X = normalize(self.X_).astype(np.float32)
            n = self.X_.shape[0]
            self._nn_inc, self._nn_exc, self._nn_seen = np.zeros(n), np.zeros(n), 0
        rows = self._labelled
        k = int(options.get("k", 1))
        for i in rows[self._nn_seen :]:
            if self.labels_[i] == 1 and k > 1:  # the mean of the k largest similarities to inclusions
                if not hasattr(self, "_nn_top"):
                    self._nn_top = np.zeros((self.X_.shape[0], k))
                column = (self._nn_X @ self._nn_X[i].T).toarray().ravel()
                self._nn_top = np.sort(np.column_stack([self._nn_top, column]), axis=1)[:, 1:]
                self._nn_inc = self._nn_top.mean(axis=1)
            elif self.labels_[i] == 1:
                np.maximum(self._nn_inc, (self._nn_X @ self._nn_X[i].T).toarray().ravel(), out=self._nn_inc)
            elif x:
                np.maximum(self._nn_exc, (self._nn_X @ self._nn_X[i].T).toarray().ravel(), out=self._nn_exc)
        self._nn_seen = len(rows)
        similarity = self._nn_inc - x * self._nn_exc if x else self._nn_inc
        pool = np.flatnonzero(self.labels_ < 0)
        if pool.size < 2:
            return margin
        return _z(margin, pool) + w * _z(similarity, pool)


class NearestInclusionHedge(NearestInclusion):
    """``nn`` with its weight learnt online: Hedge between the default's margin and the margin plus the bonus.

    Expert A is the default's log-odds ``m``; expert B is ``m + w sd(m) z(similarity)`` (the
    bonus in the margin's units, standardised over the unscreened records). Each new label
    charges each expert the log-loss of its last prediction for that record, as the default
    charges its two views; B's weight is ``0.2 + 0.6 expit(-eta (L_B - L_A))`` (the default's
    mixed share), so the score is ``m + a w sd(m) z(similarity)`` with ``a`` in [0.2, 0.8].
    """

    def _adjust(self, margin):
        options = self.options or {}
        w, eta = float(options.get("w", 1.0)), float(options.get("eta", 1.0))
        pool = np.flatnonzero(self.labels_ < 0)
        if pool.size < 2:
            return margin
        if not hasattr(self, "_nnh_loss"):
            self._nnh_loss, self._nnh_last, self._nnh_seen = np.zeros(2), None, 0
        rows = self._labelled
        new = np.asarray(rows[self._nnh_seen :], dtype=int)
        if self._nnh_last is not None and new.size:
            sign = np.where(self.labels_[new] == 1, 1.0, -1.0)
            for k, last in enumerate(self._nnh_last):
                self._nnh_loss[k] += float(np.logaddexp(0.0, -sign * last[new]).sum())
        self._nnh_seen = len(rows)
        z = super()._adjust(margin)  # z(m) + w_nn z(similarity) with w_nn = options["w"]
        sd = margin[pool].std() or 1.0
        bonus = (z - _z(margin, pool)) / w * sd  # sd(m) z(similarity)
        self._nnh_last = (margin.copy(), margin + w * bonus)
        a = 0.2 + 0.6 * float(expit(-eta * (self._nnh_loss[1] - self._nnh_loss[0])))
        self.nn_weight_ = a
        return margin + a * w * bonus


class TemporalEnsemble(Session6):
    """Records ranked by an exponential moving average of each retrain's standardised margins.

    ``e_t = d e_(t-1) + (1 - d) z_t``, ``z_t`` the default's margin standardised over the
    unscreened records at retrain ``t`` (``e_1 = z_1``): a record's place moves less with one
    label (temporal ensembling, as in Laine and Aila 2017's predictions averaged over epochs).
    """

    def _start(self, X):
        super()._start(X)
        self._ema = None

    def _adjust(self, margin):
        d = float((self.options or {}).get("d", 0.5))
        pool = np.flatnonzero(self.labels_ < 0)
        if pool.size < 2:
            return margin
        z = _z(margin, pool)
        self._ema = z if self._ema is None else d * self._ema + (1.0 - d) * z
        return self._ema


class Undersample(ActiveLearner):
    """The default learner with FASTREAD's aggressive undersampling once ``enough`` inclusions are found.

    Yu, Kraft and Menzies (2018): with at least ``enough`` (30) labelled inclusions, each model is
    trained on the inclusions and only the ``r`` x as many labelled exclusions furthest from the
    boundary (here: lowest in the previous retrain's score); the exclusions near the boundary,
    which hold the boundary back from the next inclusions, are left out. Class weights follow the
    rows kept (balanced, inclusions 10x as in the default). Before that, the default.
    """

    def __init__(self, random_state=None, options=None):
        super().__init__(random_state=random_state)
        self.options = options

    def _kept(self):
        """Labelled exclusions left out of this fit (a boolean over records), or ``None``."""
        options = self.options or {}
        enough, ratio = int(options.get("enough", 30)), float(options.get("r", 1.0))
        n_neg, n_pos = self._counts
        keep = int(round(ratio * n_pos))
        if n_pos < enough or keep >= n_neg or self.model_scores_ is None:
            return None
        negatives = np.flatnonzero(self.labels_ == 0)
        order = np.argsort(self.model_scores_[negatives], kind="stable")
        dropped = np.zeros(self.labels_.shape[0], dtype=bool)
        dropped[negatives[order[keep:]]] = True
        return dropped

    def _fit_and_score(self):
        self._us_dropped = self._kept()
        if self._us_dropped is not None:
            for view in self._views:
                view.newton = {}  # the carried Hessian factor was for other row costs
            if self._body is not None:
                self._body.newton = {}
        super()._fit_and_score()

    def _kernel_targets(self):
        s, cost = super()._kernel_targets()
        dropped = getattr(self, "_us_dropped", None)
        if dropped is None:
            return s, cost
        from ldnscreen.logistic import costs_from_counts

        classifier = self._estimator
        n_pos = self._counts[1]
        n_kept = self._counts[0] - int(dropped.sum())
        neg, pos = costs_from_counts(n_kept, n_pos, classifier.C, classifier.class_weight, classifier.inclusion_boost)
        out = dropped[np.asarray(self._labelled)]
        return s, np.where(s > 0, pos, np.where(out, 0.0, neg))

    def _fit_sklearn(self, view, classifier):
        dropped = getattr(self, "_us_dropped", None)
        if dropped is None:
            return super()._fit_sklearn(view, classifier)
        saved, counts = self.labels_.copy(), list(self._counts)
        self.labels_[dropped] = -1
        self._counts = [counts[0] - int(dropped.sum()), counts[1]]
        try:
            return super()._fit_sklearn(view, classifier)
        finally:
            self.labels_[:] = saved
            self._counts = counts


class BalancedHedge(ActiveLearner):
    """The default learner whose view weights are charged a class-balanced log-loss (session 10).

    The default sums each view's log-loss over the labelled records, so once exclusions
    outnumber inclusions a hundred to one (the tail of a large review) the weights follow the
    exclusions alone. Here each class's summed losses are weighted as the models weigh the
    classes, ``n / (2 n_c)`` (``boost`` times more for inclusions, default 1): the same total
    weight as the default's sum, split evenly between the classes.
    """

    def __init__(self, random_state=None, options=None):
        options = options or {}
        super().__init__(random_state=random_state, view_learning_rate=float(options.get("eta", 1.0)))
        self.options = options

    def _start(self, *args, **kwargs):
        out = super()._start(*args, **kwargs)
        self._class_loss = np.zeros((2, 2))  # [class, view]
        self._class_of = {}
        return out

    def _score_views(self, index, y):
        before = self._view_losses.get(index)
        super()._score_views(index, y)
        losses = self._view_losses.get(index)
        if losses is not None and losses is not before:
            self._class_loss[y] += losses
            self._class_of[index] = y

    def _forget_view_loss(self, index):
        losses = self._view_losses.get(index)
        if losses is not None and index in self._class_of:
            self._class_loss[self._class_of.pop(index)] -= losses
        super()._forget_view_loss(index)

    def _body_weight(self):
        """The default's weight of the summed losses, given the class-weighted sums instead."""
        included = sum(self._class_of.values())
        counts = np.array([len(self._class_of) - included, included], float)
        weights = np.ones(2) if counts.any() else np.zeros(2)
        if counts.all() and self.options.get("plain") != "1":  # (plain=1: the default's sum, a check)
            weights = counts.sum() / (2.0 * counts) * np.array([1.0, float(self.options.get("boost", 1.0))])
            weights *= counts.sum() / float(weights @ counts)  # the same total weight as the plain sum
        plain, self._view_loss = self._view_loss, weights @ self._class_loss  # per view
        try:
            return super()._body_weight()
        finally:
            self._view_loss = plain


class StuckViews(ActiveLearner):
    """The default learner whose views weigh as at the start while the last ``L`` labels are all exclusions (session 13).

    In a review's tail the full view's weight sits at its bound, since the summed log-loss follows
    the many exclusions it predicts confidently (session 10). Here, after ``L`` exclusions in a
    row, the two views weigh ``body_view`` and ``1 - body_view`` again until an inclusion is found.
    """

    def __init__(self, random_state=None, options=None):
        options = options or {}
        super().__init__(random_state=random_state)
        self.options = options

    def _body_weight(self):
        weight = super()._body_weight()
        run = int(self.options.get("L", 50))
        recent = self._labelled[-run:]
        if len(recent) >= run and not (self.labels_[recent] == 1).any():
            return float(self.body_view)
        return weight


class DecayHedge(ActiveLearner):
    """The default learner whose view losses are discounted by ``g`` per new label (session 13).

    The default sums every label's log-loss; discounted, the weights follow how the views have
    predicted lately (the ``1 / (1 - g)`` last labels, about), e.g. in the tail. Simulation only:
    relabelling forgets an undiscounted loss.
    """

    def __init__(self, random_state=None, options=None):
        options = options or {}
        super().__init__(random_state=random_state)
        self.options = options

    def _score_views(self, index, y):
        if self._view_margins is not None and self.view_learning_rate:
            self._view_loss *= float(self.options.get("g", 0.99))
        super()._score_views(index, y)


def _options(text):
    return dict(kv.split("=") for kv in text.split(",") if kv) if text else {}


#: Variants whose name's options go to the class unchanged (``name:key=value,...``).
_OPTION_VARIANTS = {
    "stem": Stem,  # stem:min=4 (Harman S-stemmer)
    "newton": TruncatedNewton,  # newton:k=1 (Newton steps per retrain)
    "nn": NearestInclusion,  # nn:w=0.5,x=0,k=3
    "nnh": NearestInclusionHedge,  # nnh:w=1,eta=1
    "ema": TemporalEnsemble,  # ema:d=0.5
    "under": Undersample,  # under:enough=30,r=1
    "s6": Session6,  # Session6 with no change: the session-5 default's orders (nearest inclusions off)
    "hedge": HedgeViews,  # hedge:eta=1,lo=0.2
    "kwfield": KeywordField,  # kwfield:w=0.5
    "pairs": PairWeight,  # pairs:w=0.7
    "mv": MultiView,  # mv:v=full+body+uni,eta=1,g=0.4
    "short": ShortText,  # short:a=1,min=1
    "chars": CharGrams,  # chars:w=0.5
    "svmmix": SvmMix,  # svmmix:C=0.11,w=0.5
    "lsa": LSA,  # lsa:k=100,w=0.5
    "mix": NaiveBayesMix,  # mix:nb=0.5,alpha=0.1
    "bhedge": BalancedHedge,  # bhedge:boost=1,eta=1
    "stuck": StuckViews,  # stuck:L=50
    "hdecay": DecayHedge,  # hdecay:g=0.99
}


def make(name: str) -> ActiveLearner:
    """A learner for a variant name (see the module docstring)."""
    head, _, rest = name.partition(":")
    options = _options(rest)
    if head in _OPTION_VARIANTS:
        return _OPTION_VARIANTS[head](options=options)
    if head == "base":
        return LabLearner()
    if head == "default":  # the current default
        return ActiveLearner()
    if head == "mindf1":  # the current default with TextFeatures(min_df=1)
        return ActiveLearner(features=TextFeatures(min_df=1))
    if head == "once":
        return OnceColumns()
    if head == "cfg":  # cfg:title=0,C=0.3,boost=10,bv=0.5,mindf=1,mkr=400,stop=english,maxdf=0.5,ngram=3,nw=0.25,nk=3,eta=1 - the default learner with these settings
        from sklearn.base import clone

        from ldnscreen.rankers import SCREENING_CLASSIFIER

        features = TextFeatures(min_df=int(options.get("mindf", 1)), title_weight=float(options.get("title", 0.5)),
                                sublinear_tf=options.get("sublinear", "1") == "1",
                                stop_words=options.get("stop"), max_df=float(options.get("maxdf", 0.95)),
                                ngram_range=(1, int(options.get("ngram", 2))))
        classifier = clone(SCREENING_CLASSIFIER).set_params(
            C=float(options.get("C", 1.0)), inclusion_boost=float(options.get("boost", 10.0)))
        if "mkr" in options:  # labelled rows up to which the exact kernel solver fits (liblinear above)
            classifier.set_params(max_kernel_rows=int(options["mkr"]))
        return ActiveLearner(features=features, classifier=classifier, body_view=float(options.get("bv", 0.5)),
                             neighbour_weight=float(options.get("nw", 0.25)), neighbour_k=int(options.get("nk", 3)),
                             view_learning_rate=float(options.get("eta", 1.0)))
    if head == "views":
        return LabLearner(options={"views": 1, **options})
    if head == "combo":
        return LabLearner(options={"views": 1, **options})
    if head.startswith("pn"):  # pn100, pn100w0.3, pn100u100
        spec = head[2:]
        if "u" in spec:
            spec, until = spec.split("u")
            options["until"] = until
        if "w" in spec:
            spec, weight = spec.split("w")
            options["w"] = weight
        return LabLearner(options={"m": spec, **options})
    if head.startswith("centroid"):
        return Centroid(options={"alpha": head[8:] or 0.5})
    raise SystemExit(f"unknown variant {name!r}")


def _seeds(text):
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def run(variants, seeds, label, data_dir, out, keywords=True):
    from dataclasses import replace

    from ldnscreen.simulate import load_labelled_records, simulate

    files = sorted(p for p in Path(data_dir).glob("*.csv") if p.stem != "MANIFEST")
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists()
    with out.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["variant", "label", "dataset", "seed", "wss_95", "loss", "atd", "rrf_10", "n_screened", "cpu"])
        for variant in variants:
            for seed in seeds:
                for path in files:
                    records = load_labelled_records(path)
                    if not keywords:  # as a review exported without MeSH terms or author keywords
                        records = [replace(r, keywords=()) for r in records]
                    if not any(label in r.labels for r in records):
                        continue
                    start = time.process_time()
                    result = simulate(records, label=label, seed=seed, progress=False, learner=make(variant), dataset=path.stem)
                    m = result.metrics
                    writer.writerow([variant, label, path.stem, seed, m["wss_95"], m["loss"], m["atd"], m["rrf_10"],
                                     len(result.record_ids), round(time.process_time() - start, 3)])
                    handle.flush()
                print(f"{variant} seed {seed} done", flush=True)


def compare(variants, label, out, peer_runs):
    import pandas as pd

    runs = pd.read_csv(out)
    runs = runs[runs.label == label]
    table = runs.pivot_table(index="dataset", columns="variant", values="wss_95", aggfunc="mean")
    counts = runs.groupby("variant").size()
    base = variants[0]
    if peer_runs and os.path.exists(peer_runs):
        peer = pd.read_csv(peer_runs)
        peer = peer[(peer.label == label) & (peer.model == "elas_u4")].groupby("dataset").wss_95.mean()
        if len(peer):
            table["elas_u4"] = peer
    print(table[[v for v in variants if v in table] + (["elas_u4"] if "elas_u4" in table else [])].round(3).to_string())
    print()
    print("| variant | runs | mean WSS@95 | vs base | better than base | worst vs base | vs elas_u4 | worst vs elas_u4 | datasets < -0.03 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        if v not in table:
            continue
        vb = table[v] - table[base]
        row = f"| {v} | {counts.get(v, 0)} | {table[v].mean():.3f} | {vb.mean():+.3f} | {(vb > 0).sum()}/{vb.notna().sum()} | {vb.min():+.3f} ({vb.idxmin()}) |"
        if "elas_u4" in table:
            ve = table[v] - table["elas_u4"]
            row += f" {ve.mean():+.3f} | {ve.min():+.3f} ({ve.idxmin()}) | {(ve < -0.03).sum()} |"
        else:
            row += " | | |"
        print(row)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--labels", default="label_included")
    from ldnscreen.corpora import shared_dir

    parser.add_argument("--data-dir", default=str((shared_dir() or ROOT.parent / "shared") / "corpora" / "screening"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / ".work" / "lab" / "runs.csv")
    parser.add_argument("--no-keywords", action="store_true", help="drop the records' keywords (ASReview does not read them)")
    parser.add_argument("--compare", action="store_true", help="print the comparison of runs already in --out")
    parser.add_argument("--peer-runs", default=str(ROOT / "benchmarks" / ".work" / "combined" / "runs.csv"))
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.variants, args.labels, args.out, args.peer_runs)
    else:
        run(args.variants, _seeds(args.seeds), args.labels, args.data_dir, args.out, keywords=not args.no_keywords)


if __name__ == "__main__":
    main()

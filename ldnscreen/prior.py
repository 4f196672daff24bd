"""Criteria-informed cold start: rank records before the reviewer has labelled any.

Before the first inclusion and exclusion a classifier cannot be trained. The
review's criteria already say what it is looking for, so :class:`CriteriaPrior`
scores every record by TF-IDF cosine similarity to a "criteria document"
built from the search query's phrases and terms (weighted most), the
inclusion terms, the inclusion description and the review question, in the
same feature space as the classifier (:class:`~ldnscreen.features.TextFeatures`).
Records that show evidence for an exclusion reason of any stage (animal
model, in vitro, acute pain only, review article, conference abstract,
non-English, or the absence of a required term) are pushed down by a
multiplicative penalty per reason.

:class:`~ldnscreen.rankers.ActiveLearner` uses these scores alone until both
an inclusion and an exclusion are labelled, then blends them with the
classifier's probability, weight ``k / (k + n_labels)``, so the classifier
takes over as labels grow.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from ldnscreen.criteria import Criteria
from ldnscreen.features import TextFeatures
from ldnscreen.records import Record

__all__ = ["CriteriaPrior"]


class CriteriaPrior:
    """Cold-start scores from a review's criteria.

    Parameters
    ----------
    criteria : Criteria
        The review's criteria.
    query_weight : float, default=3
        Weight of each top-level ``AND`` clause of the search query.
    terms_weight : float, default=2
        Weight of the inclusion terms together.
    exclusion_penalty : float, default=0.5
        Factor applied to a record's score for each exclusion reason whose
        text patterns match (``1`` disables the push-down).
    strong_penalty : float, default=0.25
        Factor for each reason shown by the record's metadata (language,
        publication type) or by the absence of every ``requires`` pattern
        (the record never names the intervention or the condition).
    stages : tuple of str or None, default=None
        Stages whose exclusion reasons push records down; ``None`` = all.

    Examples
    --------
    >>> criteria = Criteria.loads('''
    ... name = "Low-dose naltrexone for chronic pain"
    ... [search]
    ... query = '"low-dose naltrexone" AND ("chronic pain" OR fibromyalgia)'
    ... [[exclusion]]
    ... reason = "animal model"
    ... stage = "full-text"
    ... patterns = ['\\\\b(rats?|mice)\\\\b']
    ... ''')
    >>> records = [
    ...     Record(title="Statins and cholesterol in adults"),
    ...     Record(title="Low-dose naltrexone in rats with chronic pain"),
    ...     Record(title="Low-dose naltrexone for fibromyalgia: a pilot trial"),
    ...     Record(title="Exercise for knee osteoarthritis"),
    ... ]
    >>> scores = CriteriaPrior(criteria).scores(records)
    >>> int(scores.argmax()), bool(scores[1] > scores[0])
    (2, True)
    """

    def __init__(
        self,
        criteria: Criteria,
        query_weight: float = 3.0,
        terms_weight: float = 2.0,
        exclusion_penalty: float = 0.5,
        strong_penalty: float = 0.25,
        stages: tuple[str, ...] | None = None,
    ):
        self.criteria = criteria
        self.query_weight = query_weight
        self.terms_weight = terms_weight
        self.exclusion_penalty = exclusion_penalty
        self.strong_penalty = strong_penalty
        self.stages = stages

    def criteria_texts(self) -> tuple[list[str], np.ndarray]:
        """The texts whose weighted sum is the criteria query, and their weights.

        Each top-level ``AND`` clause of the search gets weight
        ``query_weight``, shared equally by its alternatives (so a concept
        with six synonyms counts as much as one with a single name); the
        inclusion terms share ``terms_weight``; the inclusion description
        and the question weigh 1 together.
        """
        c = self.criteria
        texts: list[str] = []
        weights: list[float] = []
        for clause in c.query_clauses:
            texts += list(clause)
            weights += [self.query_weight / len(clause)] * len(clause)
        if c.inclusion_terms:
            texts += list(c.inclusion_terms)
            weights += [self.terms_weight / len(c.inclusion_terms)] * len(c.inclusion_terms)
        description = "\n".join(p for p in (c.inclusion_description, c.question) if p) or c.name
        texts.append(description)
        weights.append(1.0)
        return texts, np.asarray(weights)

    def query_vector(self, features: TextFeatures) -> sp.csr_matrix:
        """The criteria query in the feature space of fitted ``features`` (1 row, L2-normalised).

        The weighted sum of the L2-normalised vectors of :meth:`criteria_texts`.
        """
        check_is_fitted(features, "text_vectorizer_")
        texts, weights = self.criteria_texts()
        vectors = features.transform(texts)
        query = sp.csr_matrix(weights.astype(vectors.dtype) @ vectors)
        norm = np.sqrt(query.multiply(query).sum())
        if norm > 0:
            query = query / norm
        return sp.csr_matrix(query, dtype=vectors.dtype)

    def exclusion_factors(self, records: Sequence[Record | str]) -> np.ndarray:
        """Per record, the product of the penalties of the exclusion reasons it shows evidence for.

        Text-pattern evidence costs ``exclusion_penalty``; metadata evidence
        and a missing required term cost ``strong_penalty``.
        """
        reasons = [e for e in self.criteria.exclusions if e.has_evidence and (self.stages is None or e.stage in self.stages)]
        factors = np.ones(len(records), dtype=np.float64)
        if not reasons or (self.exclusion_penalty == 1 and self.strong_penalty == 1):
            return factors
        for i, record in enumerate(records):
            for reason in reasons:
                evidence = reason.evidence(record)
                if evidence is not None:
                    factors[i] *= self.exclusion_penalty if evidence == "pattern" else self.strong_penalty
        return factors

    def scores(self, records: Sequence[Record | str], X=None, features: TextFeatures | None = None) -> np.ndarray:
        """Prior inclusion scores in [0, 1], higher = more likely included.

        Parameters
        ----------
        records : sequence of Record or str
            The records to score.
        X : sparse matrix, optional
            Their feature matrix from ``features``; computed when omitted.
        features : TextFeatures, optional
            Fitted features that produced ``X``. When omitted, a
            :class:`TextFeatures` is fitted on ``records`` (and ``X`` is
            recomputed with it).

        Returns
        -------
        numpy.ndarray of shape (n_records,)
            Similarity to the criteria, scaled so the best record scores 1,
            times the exclusion factors.
        """
        records = list(records)
        if features is None or X is None:
            features = TextFeatures(min_df=1)
            X = features.fit_transform(records)
        if X.shape[0] != len(records):
            raise ValueError(f"X has {X.shape[0]} rows for {len(records)} records")
        similarity = np.asarray(X @ self.query_vector(features).T.toarray(), dtype=np.float64).ravel()
        top = similarity.max() if similarity.size else 0.0
        if top > 0:
            similarity /= top
        return np.clip(similarity * self.exclusion_factors(records), 0.0, 1.0)

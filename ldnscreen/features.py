"""Text features for ranking: TF-IDF over title, abstract and keywords.

:class:`TextFeatures` is a scikit-learn transformer. It turns records (or
plain texts) into an L2-normalised sparse TF-IDF matrix of ``float32``: word
unigrams and bigrams with sublinear term frequency over the whole text, plus
an optional title-only field so that words in the title count more (the
choice of defaults is measured in ``benchmarks/RANKER_NOTES.md``).

The matrix and the fitted vocabulary can be cached safely: :func:`save_matrix`
and :func:`load_matrix` use ``scipy.sparse.save_npz``/``load_npz`` with pickles
refused, and :meth:`TextFeatures.to_bytes` writes JSON and ``.npy`` arrays
only. Nothing here ever unpickles data.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from ldnscreen.records import Record

__all__ = ["TextFeatures", "save_matrix", "load_matrix", "record_texts"]

_FORMAT = "ldnscreen-text-features/1"


def record_texts(records: Iterable[Record | str]) -> tuple[list[str], list[str]]:
    """Full texts and titles of records.

    A record's full text is its title, abstract and keywords; a plain string
    is taken as a full text whose first line is the title.

    Examples
    --------
    >>> record_texts([Record(title="LDN", abstract="A trial.", keywords=("pain",)), "Title\\nbody"])
    (['LDN\\nA trial.\\npain', 'Title\\nbody'], ['LDN', 'Title'])
    """
    texts: list[str] = []
    titles: list[str] = []
    for item in records:
        if isinstance(item, Record):
            title = item.title or ""
            parts = [title, item.abstract or "", "; ".join(item.keywords)]
            texts.append("\n".join(p for p in parts if p))
            titles.append(title)
        else:
            if item is None or (isinstance(item, float) and np.isnan(item)):
                item = ""
            text = str(item)
            texts.append(text)
            titles.append(text.partition("\n")[0])
    return texts, titles


def _as_list(X) -> list:
    if isinstance(X, (str, bytes, Record)):
        raise ValueError(
            "TextFeatures expects a sequence of records or texts, got a single "
            f"{type(X).__name__}; wrap it in a list."
        )
    if isinstance(X, np.ndarray):
        if X.ndim != 1:
            raise ValueError(f"TextFeatures expects a 1-d sequence of texts, got an array of shape {X.shape}")
        return X.tolist()
    return list(X)


class TextFeatures(TransformerMixin, BaseEstimator):
    """TF-IDF features of titles, abstracts and keywords.

    Parameters
    ----------
    ngram_range : tuple of int, default=(1, 2)
        Word n-grams of the whole text.
    min_df : int or float, default=2
        Minimum document frequency of a term. When it would leave no term at
        all (a handful of records) it falls back to 1.
    max_df : float, default=0.95
        Terms in more than this share of the records are dropped.
    sublinear_tf : bool, default=True
        Use ``1 + log(tf)`` instead of raw counts.
    stop_words : {"english"} or None, default=None
        Stop-word list (``None`` keeps every word).
    title_weight : float, default=0.5
        Weight of an extra title-only TF-IDF field (unigrams and bigrams);
        ``0`` switches it off. Rows are L2-normalised after weighting.
    max_features : int or None, default=None
        Keep only the most frequent terms per field.
    dtype : numpy dtype, default=np.float32
        Output dtype.

    Attributes
    ----------
    text_vectorizer_ : TfidfVectorizer
        Fitted vectorizer of the whole text.
    title_vectorizer_ : TfidfVectorizer or None
        Fitted vectorizer of the title field.
    n_features_out_ : int
        Number of output columns.

    Examples
    --------
    >>> docs = ["Low-dose naltrexone for fibromyalgia", "Naltrexone in rats",
    ...         "Low-dose naltrexone for CRPS", "Opioids in rats"]
    >>> features = TextFeatures(min_df=1).fit(docs)
    >>> X = features.transform(docs)
    >>> X.shape[0], X.dtype.name, X.format
    (4, 'float32', 'csr')
    >>> "low dose" in set(features.get_feature_names_out())
    True
    >>> restored = TextFeatures.from_bytes(features.to_bytes())
    >>> bool(abs(restored.transform(docs) - X).max() < 1e-6)
    True
    """

    def __init__(
        self,
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int | float = 2,
        max_df: float = 0.95,
        sublinear_tf: bool = True,
        stop_words: str | None = None,
        title_weight: float = 0.5,
        max_features: int | None = None,
        dtype=np.float32,
    ):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.sublinear_tf = sublinear_tf
        self.stop_words = stop_words
        self.title_weight = title_weight
        self.max_features = max_features
        self.dtype = dtype

    def _vectorizer(self, ngram_range, min_df, max_df) -> TfidfVectorizer:
        return TfidfVectorizer(
            ngram_range=tuple(ngram_range),
            min_df=min_df,
            max_df=max_df,
            sublinear_tf=self.sublinear_tf,
            stop_words=self.stop_words,
            max_features=self.max_features,
            dtype=self.dtype,
            norm="l2",
            strip_accents="unicode",
        )

    @staticmethod
    def _fit_vectorizer(make, texts, transform: bool):
        """Fit (and transform); with too few documents for min_df/max_df, keep every term."""
        vectorizer = make()
        try:
            matrix = vectorizer.fit_transform(texts) if transform else vectorizer.fit(texts)
        except ValueError as exc:  # "After pruning, no terms remain" or max_df < min_df
            if "no terms remain" not in str(exc) and "max_df corresponds" not in str(exc):
                raise
            vectorizer.set_params(min_df=1, max_df=1.0)
            matrix = vectorizer.fit_transform(texts) if transform else vectorizer.fit(texts)
        return vectorizer, (matrix if transform else None)

    def fit(self, X: Sequence[Record | str], y=None) -> "TextFeatures":
        """Learn vocabulary and idf from records or texts.

        Parameters
        ----------
        X : sequence of Record or str
        y : ignored

        Returns
        -------
        self
        """
        self._fit(X, transform=False)
        return self

    def fit_transform(self, X: Sequence[Record | str], y=None) -> sp.csr_matrix:
        """:meth:`fit` and :meth:`transform` with one pass of tokenisation."""
        return self._fit(X, transform=True)

    def _fit(self, X, transform: bool):
        texts, titles = record_texts(_as_list(X))
        if not texts:
            raise ValueError("TextFeatures.fit needs at least one record")
        make = lambda: self._vectorizer(self.ngram_range, self.min_df, self.max_df)  # noqa: E731
        self.text_vectorizer_, matrix = self._fit_vectorizer(make, texts, transform)
        del texts
        self.title_vectorizer_, title_matrix = None, None
        if self.title_weight and any(t.strip() for t in titles):
            try:
                self.title_vectorizer_, title_matrix = self._fit_vectorizer(make, titles, transform)
            except ValueError:  # titles of stop words only: no title field
                self.title_vectorizer_ = None
        self.n_features_out_ = len(self.text_vectorizer_.vocabulary_) + (
            len(self.title_vectorizer_.vocabulary_) if self.title_vectorizer_ is not None else 0
        )
        return self._combine(matrix, title_matrix) if transform else None

    def _combine(self, matrix, title_matrix) -> sp.csr_matrix:
        if self.title_vectorizer_ is not None:
            title_matrix.data *= np.asarray(self.title_weight, dtype=title_matrix.dtype)
            matrix = normalize(sp.hstack([matrix, title_matrix], format="csr"), copy=False)
        matrix = sp.csr_matrix(matrix, dtype=self.dtype)
        matrix.sort_indices()
        return matrix

    def transform(self, X: Sequence[Record | str]) -> sp.csr_matrix:
        """TF-IDF matrix of records or texts.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (n_records, n_features_out_), float32
            Rows are L2-normalised (empty records give zero rows).
        """
        check_is_fitted(self, "text_vectorizer_")
        texts, titles = record_texts(_as_list(X))
        matrix = self.text_vectorizer_.transform(texts)
        title_matrix = self.title_vectorizer_.transform(titles) if self.title_vectorizer_ is not None else None
        return self._combine(matrix, title_matrix)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Feature names: whole-text terms, then ``"title:"``-prefixed title terms."""
        check_is_fitted(self, "text_vectorizer_")
        names = list(self.text_vectorizer_.get_feature_names_out())
        if self.title_vectorizer_ is not None:
            names += ["title:" + n for n in self.title_vectorizer_.get_feature_names_out()]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.sparse = False
        tags.target_tags.required = False
        return tags

    # ------------------------------------------------------------ safe persistence
    def to_bytes(self) -> bytes:
        """The fitted state as a zip of JSON and ``.npy`` files (no pickle).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            When not fitted.
        """
        check_is_fitted(self, "text_vectorizer_")
        params = self.get_params()
        params["dtype"] = np.dtype(params["dtype"]).name
        params["ngram_range"] = list(params["ngram_range"])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            fields = {"text": self.text_vectorizer_, "title": self.title_vectorizer_}
            present = [name for name, v in fields.items() if v is not None]
            archive.writestr("meta.json", json.dumps({"format": _FORMAT, "params": params, "fields": present}))
            for name in present:
                vectorizer = fields[name]
                vocabulary = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
                archive.writestr(f"{name}.vocabulary.json", json.dumps(vocabulary, ensure_ascii=False))
                npy = io.BytesIO()
                np.save(npy, np.asarray(vectorizer.idf_, dtype=np.float64), allow_pickle=False)
                archive.writestr(f"{name}.idf.npy", npy.getvalue())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "TextFeatures":
        """A fitted :class:`TextFeatures` from :meth:`to_bytes` output.

        Raises
        ------
        ValueError
            When the data is not a text-features archive of this format.
        """
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            meta = json.loads(archive.read("meta.json"))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"not an ldnscreen text-features archive: {exc}") from exc
        if meta.get("format") != _FORMAT:
            raise ValueError(f"unsupported text-features format {meta.get('format')!r}; expected {_FORMAT!r}")
        params = dict(meta["params"])
        params["dtype"] = np.dtype(params["dtype"]).type
        params["ngram_range"] = tuple(params["ngram_range"])
        features = cls(**params)
        restored = {}
        for name in meta["fields"]:
            vocabulary = json.loads(archive.read(f"{name}.vocabulary.json"))
            idf = np.load(io.BytesIO(archive.read(f"{name}.idf.npy")), allow_pickle=False)
            vectorizer = features._vectorizer(features.ngram_range, features.min_df, features.max_df)
            vectorizer.vocabulary_ = vocabulary
            vectorizer.idf_ = idf
            restored[name] = vectorizer
        features.text_vectorizer_ = restored["text"]
        features.title_vectorizer_ = restored.get("title")
        features.n_features_out_ = sum(len(v.vocabulary_) for v in restored.values())
        return features


def save_matrix(X: sp.spmatrix) -> bytes:
    """A sparse matrix as ``.npz`` bytes (``scipy.sparse.save_npz``), for caching in the review store.

    Examples
    --------
    >>> X = sp.random(3, 4, density=0.5, format="csr", dtype=np.float32, random_state=0)
    >>> Y = load_matrix(save_matrix(X))
    >>> (Y != X).nnz, Y.dtype.name, Y.format
    (0, 'float32', 'csr')
    """
    buffer = io.BytesIO()
    sp.save_npz(buffer, sp.csr_matrix(X), compressed=False)
    return buffer.getvalue()


def load_matrix(data: bytes) -> sp.csr_matrix:
    """The matrix written by :func:`save_matrix`; pickled content is refused.

    Raises
    ------
    ValueError
        When the data is not a sparse ``.npz`` matrix or would need unpickling.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
            kind = loaded["format"].item()
            kind = kind.decode("ascii") if isinstance(kind, bytes) else str(kind)
            if kind not in ("csr", "csc"):
                raise ValueError(f"unsupported sparse format {kind!r}")
            build = sp.csr_matrix if kind == "csr" else sp.csc_matrix
            matrix = build(
                (loaded["data"], loaded["indices"], loaded["indptr"]), shape=tuple(int(n) for n in loaded["shape"])
            )
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a saved sparse matrix (pickles are refused): {exc}") from exc
    return sp.csr_matrix(matrix)

"""Text features for ranking: TF-IDF over title, abstract and keywords.

:class:`TextFeatures` is a scikit-learn transformer. It turns records (or
plain texts) into an L2-normalised sparse TF-IDF matrix of ``float32``: word
unigrams and bigrams with sublinear term frequency over the whole text, plus
an optional title-only field so that words in the title count more (the
choice of defaults is measured in ``benchmarks/RANKER_NOTES.md``).

The TF-IDF is computed by a vectorised reimplementation of scikit-learn's
``TfidfVectorizer`` (tokens become integer ids, n-grams integer codes, counts
are grouped with numpy): vocabulary, column order, idf and matrix are those of
``TfidfVectorizer(strip_accents="unicode", norm="l2", ...)``, several times
faster, in less memory (``benchmarks/feature_speed.py`` compares both).

The matrix and the fitted vocabulary can be cached safely: :func:`save_matrix`
and :func:`load_matrix` use ``scipy.sparse.save_npz``/``load_npz`` with pickles
refused, and :meth:`TextFeatures.to_bytes` writes JSON and ``.npy`` arrays
only. Nothing here ever unpickles data.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from itertools import compress, repeat
from numbers import Integral
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer, strip_accents_unicode
from sklearn.preprocessing import normalize
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import check_is_fitted

try:  # the kernel of sklearn.preprocessing.normalize for CSR matrices
    from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2 as _inplace_row_normalize_l2
except ImportError:  # pragma: no cover
    _inplace_row_normalize_l2 = None

from ldnscreen._compiled import kernels as _kernels  # compiled inner loops, or None
from ldnscreen.records import Record

__all__ = ["TextFeatures", "save_matrix", "load_matrix", "record_texts"]

_FORMAT = "ldnscreen-text-features/2"  # 2: the once-seen columns of each field
_READABLE_FORMATS = ("ldnscreen-text-features/1", _FORMAT)

#: Start of the feature name of a record's once-seen column (``once_terms="collapse"``).
ONCE_COLUMN_PREFIX = "(terms only in record "


def _plain_text(item) -> str:
    """A plain-text record as a string (``None`` or a missing value, NaN from pandas: empty)."""
    if item is None or (isinstance(item, float) and np.isnan(item)):
        return ""
    return str(item)


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
            text = _plain_text(item)
            texts.append(text)
            titles.append(text.partition("\n")[0])
    return texts, titles


def _text_parts(records: Iterable[Record | str]) -> tuple[list[str], list[str]]:
    """Titles and the rest of the full texts of :func:`record_texts`.

    A full text is its title and the rest joined by a line break (either
    alone when the other is empty).

    Examples
    --------
    >>> _text_parts([Record(title="LDN", abstract="A trial.", keywords=("pain",)), "Title\\nbody", Record(title="", abstract="B")])
    (['LDN', 'Title', ''], ['A trial.\\npain', 'body', 'B'])
    """
    titles: list[str] = []
    rests: list[str] = []
    for item in records:
        if isinstance(item, Record):
            titles.append(item.title or "")
            rests.append("\n".join(p for p in (item.abstract or "", "; ".join(item.keywords)) if p))
        else:
            title, _, rest = _plain_text(item).partition("\n")
            titles.append(title)
            rests.append(rest)
    return titles, rests


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


# ------------------------------------------------------------ vectorised TF-IDF
# scikit-learn's TfidfVectorizer analyses one document at a time in Python
# (n-gram strings, a dict per document), which dominates the cost of fitting on
# a few hundred records. _Tfidf gives the same vocabulary, idf and matrix with
# whole-corpus numpy operations: each document is lower-cased (and its accents
# stripped) exactly as scikit-learn does, cut into tokens, tokens become
# integer ids through one dict, n-grams become integer codes of consecutive ids,
# and strings are built only for the n-grams that survive min_df/max_df.

_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_TOKEN = re.compile(_TOKEN_PATTERN)
# In an ASCII document the tokens of _TOKEN_PATTERN are the maximal runs of
# [A-Za-z0-9_] of two or more characters: map every other ASCII character to a
# space, split on white space and drop one-character pieces. Pieces are UTF-8
# bytes (splitting bytes and translating them is cheaper than str); a non-ASCII
# document's pieces are its tokens, in whose UTF-8 bytes no ASCII white space
# occurs, and a piece has as many bytes as characters or is a token anyway.
_ASCII_NON_WORD = bytes(c if c < 128 and (chr(c).isalnum() or chr(c) == "_") else ord(" ") for c in range(256))
# Documents of a chunk are joined around this one-character piece: "Ā" is
# upper case, so no lower-cased document holds it, and it is too short to be
# a token of a non-ASCII document.
_SEPARATOR = "\u0100".encode()
_JOIN = b" " + _SEPARATOR + b" "
_SEP_ID, _DROP, _UNKNOWN = -3, -2, -1
_NEW = -4  # (a token not yet in a _GrowingTokenIds: only while numbering new tokens)
_CHUNK = 1024  # documents tokenised together
# transform() of texts shorter than this many characters per vocabulary term
# goes through scikit-learn's own code (indexing a vocabulary costs ~5 us a term)
_SMALL_TRANSFORM = 10
_PIECE = 2_000_000  # matrix entries handled together when the count matrix is assembled and weighted
_KEY_LIMIT = 2**63  # _GramCounts.name_order sorts one key per n-gram below this (a key per position above)
# _Level groups at most this many n-gram occurrences by counting sort (faster than sorting on a small
# review, ~1 ms of 3.5 on 390 records, but its temporary arrays take ~50 bytes per occurrence)
_COUNTING_SORT_ENTRIES = 2**19


class _TokenIds(dict):
    """Token (UTF-8 bytes) -> id; a missing token is dropped (too short, stop word) or unknown."""

    def __init__(self, stop_words):
        super().__init__({_SEPARATOR: _SEP_ID})
        self.stop_words = frozenset(word.encode() for word in stop_words or ())

    def __missing__(self, token):
        return _DROP if len(token) < 2 or token in self.stop_words else _UNKNOWN

    def ids_of(self, tokens: list[bytes]) -> np.ndarray:
        """``self[token]`` for each of ``tokens``, as int64."""
        return np.fromiter(map(self.__getitem__, tokens), dtype=np.int64, count=len(tokens))


def _pieces(docs: Sequence[str], strip_accents: bool) -> list[bytes]:
    """Each document as space-separated UTF-8 pieces whose two-or-more-character pieces are its tokens."""
    out = []
    for doc in docs:
        doc = doc.lower()
        if doc.isascii():  # strip_accents_unicode leaves ASCII text as it is
            out.append(doc.encode("ascii").translate(_ASCII_NON_WORD))
        else:
            if strip_accents:
                doc = strip_accents_unicode(doc)
            out.append(" ".join(_TOKEN.findall(doc)).encode())
    return out


class _GrowingTokenIds(_TokenIds):
    """Token -> id that gives every new token (two or more characters, not a stop word) the next id."""

    def __init__(self, stop_words):
        super().__init__(stop_words)
        self.tokens: list[str] = []
        self.table = None  # the compiled table, once it numbers the pieces (then the dictionary is not used)

    def compiled_ids(self, text: bytes) -> np.ndarray | None:
        """The id of each of ``text.split()``'s pieces through the compiled table (int32), as
        piece by piece; ``None`` where it is not compiled or this dictionary has numbered pieces.
        """
        if self.table is None:
            if _kernels is None or len(self) != 1:  # (the separator only: nothing numbered here yet)
                return None
            stop_words = sorted(word for word in self.stop_words if word)  # (no piece is empty)
            self.table = _kernels.token_table([_SEPARATOR, *stop_words], [_SEP_ID] + [_DROP] * len(stop_words), _DROP)
        ids, new = _kernels.token_ids(self.table, text)
        self.tokens.extend(token.decode() for token in new)
        return np.frombuffer(ids, dtype=np.int32)

    def __missing__(self, token):
        if len(token) < 2 or token in self.stop_words:
            value = _DROP
        else:
            value = len(self.tokens)
            self.tokens.append(token.decode())
        self[token] = value
        return value

    def ids_of(self, tokens: list[bytes]) -> np.ndarray:
        """``self[token]`` for each of ``tokens``, as int64.

        The new tokens are numbered in order of first appearance, as
        ``self[token]`` one by one would, but in one loop instead of a
        ``__missing__`` call each.
        """
        new = list(dict.fromkeys(token for token in tokens if token not in self))
        if new:
            stop_words, names = self.stop_words, self.tokens
            for token in new:
                if len(token) < 2 or token in stop_words:
                    self[token] = _DROP
                else:
                    self[token] = len(names)
                    names.append(token.decode())
        return super().ids_of(tokens)

    def ids_of_distinct(self, tokens: list[bytes], names_of) -> np.ndarray:
        """:meth:`ids_of` of distinct tokens (no stop words), ``names_of(new)`` their strings where ``new``.

        One dictionary lookup per token, and the new tokens numbered and named
        together (``names_of``: e.g. Arrow's decoding of the pieces) instead of
        one by one: the same ids and names as :meth:`ids_of`.

        Examples
        --------
        >>> ids = _GrowingTokenIds(None)
        >>> ids.ids_of_distinct([b"pain", b"a", b"ldn"], lambda new: [t.decode() for t, n in zip([b"pain", b"a", b"ldn"], new) if n]).tolist()
        [0, -2, 1]
        >>> ids.ids_of_distinct([b"ldn", b"crps"], lambda new: ["crps"]).tolist(), ids.tokens
        ([1, 2], ['pain', 'ldn', 'crps'])
        """
        n = len(tokens)
        values = np.fromiter(map(self.get, tokens, repeat(_NEW, n)), dtype=np.int64, count=n)
        new = values == _NEW
        if not new.any():
            return values
        short = np.fromiter(map(len, tokens), dtype=np.int64, count=n) < 2
        named = new & ~short
        values[new & short] = _DROP
        first = len(self.tokens)
        values[named] = np.arange(first, first + int(np.count_nonzero(named)))
        self.tokens.extend(names_of(named))
        self.update(zip(compress(tokens, new.tolist()), values[new].tolist()))
        return values


_ARROW = None


def _arrow():
    """``(pyarrow, pyarrow.compute)``, or ``None`` where pyarrow cannot be imported (imported once).

    (scikit-learn's import of pandas has usually loaded both already.)
    """
    global _ARROW
    if _ARROW is None:
        try:
            import pyarrow
            import pyarrow.compute
        except ImportError:  # pragma: no cover - pyarrow is a dependency
            _ARROW = False
        else:
            _ARROW = (pyarrow, pyarrow.compute)
    return _ARROW or None


def _piece_ids(text: bytes, token_ids: _TokenIds) -> np.ndarray:
    """``token_ids[piece]`` for each piece of ``text.split()``, each distinct piece looked up once.

    ``text`` is joined :func:`_pieces`: valid UTF-8, pieces separated by
    spaces. A bytes object and a dictionary lookup per piece cost more than
    the rest of the tokenisation. A :class:`_GrowingTokenIds` numbers the
    pieces in compiled code (its table, :meth:`_GrowingTokenIds.compiled_ids`)
    where there is any. Otherwise the compiled ``split_distinct``
    (``ldnscreen/_kernels.c``), or else Arrow, splits the text and numbers the
    distinct pieces in order of first appearance (Arrow's dictionary encoding);
    only these are looked up, in that order, so a :class:`_GrowingTokenIds`
    numbers new tokens exactly as piece by piece. Without either (or, with
    Arrow, for a text of 2 GB or more) the pieces are looked up one by one.

    Examples
    --------
    >>> ids = _GrowingTokenIds(None)
    >>> _piece_ids(b"pain  naltrexone a pain ", ids).tolist(), ids.tokens
    ([0, 1, -2, 0], ['pain', 'naltrexone'])
    """
    if type(token_ids) is _GrowingTokenIds:
        ids = token_ids.compiled_ids(text)
        if ids is not None:
            return ids
    split = _distinct_pieces(text)
    if split is None:
        return token_ids.ids_of(text.split())
    keys, indices, names_of = split
    if type(token_ids) is _GrowingTokenIds and not token_ids.stop_words:
        values = token_ids.ids_of_distinct(keys, names_of)
    else:
        values = token_ids.ids_of(keys)
    return values[indices]


def _distinct_pieces(text: bytes):
    """``text.split()``'s distinct pieces in order of first appearance (bytes), each piece's number
    among them, and ``names_of(mask)``: the pieces where ``mask`` as strings; ``None`` where neither
    the compiled ``split_distinct`` nor Arrow (for a text under 2 GB) can do it.
    """
    if _kernels is not None:  # compiled: no Arrow arrays to build
        keys, indices = _kernels.split_distinct(text)
        return keys, np.frombuffer(indices, dtype=np.int32), lambda new: [key.decode() for key in compress(keys, new.tolist())]
    arrow = _arrow()
    if arrow is None or len(text) >= np.iinfo(np.int32).max:
        return None
    pa, pc = arrow
    text = text.strip()  # (Arrow gives an empty piece for white space at either end, and for no text)
    if not text:
        return [], np.zeros(0, dtype=np.int64), lambda new: []
    offsets = pa.py_buffer(np.array([0, len(text)], dtype=np.int32))
    whole = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(text)])
    # (C's allocator: Arrow's own pool would keep the memory of the largest chunk after the fit)
    pool = pa.system_memory_pool()
    pieces = pc.ascii_split_whitespace(whole, memory_pool=pool).flatten()  # as bytes.split()
    encoded = pc.dictionary_encode(pieces, memory_pool=pool)  # distinct pieces in order of first appearance
    distinct = encoded.dictionary
    keys = distinct.cast(pa.binary(), memory_pool=pool).to_pylist()
    return keys, encoded.indices.to_numpy(), lambda new: distinct.filter(pa.array(new)).to_pylist()


def _tokenise(docs: Sequence[str], token_ids: _TokenIds, strip_accents: bool):
    """Token ids of all documents, concatenated, and the number of ids per document.

    A :class:`_GrowingTokenIds` learns new tokens; with a plain
    :class:`_TokenIds` tokens it does not know are kept as ``_UNKNOWN`` (they
    break n-grams, like out-of-vocabulary n-grams in scikit-learn). Stop words
    and one-character pieces are dropped before n-grams are formed, as in
    scikit-learn.
    """
    lowest = 0 if isinstance(token_ids, _GrowingTokenIds) else _UNKNOWN
    all_ids, all_lengths = [], []
    for start in range(0, len(docs), _CHUNK):
        part = docs[start : start + _CHUNK]
        ids = _piece_ids(_JOIN.join(_pieces(part, strip_accents)), token_ids)
        doc = np.cumsum(ids == _SEP_ID)
        keep = ids >= lowest
        all_lengths.append(np.bincount(doc[keep], minlength=len(part)))
        all_ids.append(ids[keep].astype(np.int32))
    if not all_ids:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    return np.concatenate(all_ids), np.concatenate(all_lengths).astype(np.int64)


def _document_starts(lengths: np.ndarray, n_ids: int) -> np.ndarray:
    """Boolean per id position (and one past the end): does a document start here?"""
    starts = np.zeros(n_ids + 1, dtype=bool)
    starts[np.cumsum(lengths) - lengths] = True
    starts[n_ids] = True
    return starts


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape) -> sp.csr_matrix:
    """A CSR matrix from its arrays, with 32-bit indices when they fit."""
    index_dtype = np.int32 if max(indptr[-1], shape[1]) < np.iinfo(np.int32).max else np.int64
    return sp.csr_matrix((data, indices.astype(index_dtype), indptr.astype(index_dtype)), shape=shape)


class _Level:
    """The n-grams of one length: per distinct n-gram (sorted by code) its code, document frequency and
    entries (document, count), the entries of an n-gram contiguous and in document order.

    ``codes`` is used as working memory (overwritten; ``docs`` too by the compiled
    grouping, :func:`_group_grams`). With ``n_tokens`` (the
    codes are ``prefix * n_tokens + last token``) the documents ``docs`` must
    be in ascending order, as they are in the text: the compiled grouping then
    sorts them by counting at any size; without it, up to
    :data:`_COUNTING_SORT_ENTRIES` entries are grouped by a stable
    counting sort of their codes (:func:`_stable_code_order`) instead of a
    sort of one key per entry (document within code), to the same result.
    """

    def __init__(self, codes: np.ndarray, docs: np.ndarray, n_docs: int, n_tokens: int | None = None):
        unique = None
        grouped = None
        if _kernels is not None and n_tokens is not None and 0 < len(codes) < 2**32:
            # compiled: the counting sorts below, in C, at any size (12 bytes of scratch per entry)
            grouped = _group_grams(codes, docs, n_tokens)
        if grouped is not None:
            self.doc, self.count, gram = grouped
            del codes, docs, grouped
        else:
            if len(codes) and (int(codes.max()) + 1) * n_docs >= 2**63:  # too wide for one int64 key: compact first
                unique, codes = np.unique(codes, return_inverse=True)
            if unique is None and n_tokens is not None and 0 < len(codes) <= _COUNTING_SORT_ENTRIES:
                # entries by code, then document (stable: the documents come in order); an entry
                # starts where the code or the document changes
                order = _stable_code_order(codes, n_tokens)
                codes, docs = codes[order], docs[order]
                del order
                new = np.empty(len(codes), dtype=bool)
                new[0] = True
                np.not_equal(codes[1:], codes[:-1], out=new[1:])
                new[1:] |= docs[1:] != docs[:-1]
                first = np.flatnonzero(new)
                del new
                self.count = _run_lengths(first, len(codes), np.int32)
                self.doc = docs[first].astype(np.int32)
                gram = codes[first]  # the code of each entry
                del codes, docs, first
            else:
                key = codes
                key *= n_docs
                key += docs
                del docs
                key.sort()
                first = _run_starts(key)
                self.count = _run_lengths(first, len(key), np.int32)
                gram = key[first]
                del key, first
                self.doc = np.empty(len(gram), dtype=np.int32)
                np.remainder(gram, n_docs, out=self.doc, casting="unsafe")
                np.floor_divide(gram, n_docs, out=gram)
        start = _run_starts(gram)
        self.df = _run_lengths(start, len(gram), np.int32 if len(gram) < 2**31 else np.int64)
        self.code = gram[start] if unique is None else unique[gram[start]]
        del gram
        self.start = start.astype(self.df.dtype)

    @classmethod
    def of_tokens(cls, ids: np.ndarray, lengths: np.ndarray, n_tokens: int) -> "_Level":
        """Single tokens (codes: token ids), grouped by scipy: the documents' ids transposed, repeats summed.

        The transposition (a counting sort, linear in the number of tokens)
        lists each token's documents in ascending order, a document once per
        occurrence, so the repeats are adjacent and are summed without sorting
        anything (``has_sorted_indices`` is set by the conversion).
        """
        n_docs = len(lengths)
        index_dtype = np.int32 if max(len(ids), n_tokens, n_docs) < np.iinfo(np.int32).max else np.int64
        indptr = np.zeros(n_docs + 1, dtype=index_dtype)
        np.cumsum(lengths, out=indptr[1:])
        counts = sp.csr_matrix((np.ones(len(ids), dtype=np.int32), ids.astype(index_dtype), indptr), shape=(n_docs, n_tokens))
        counts = counts.tocsc()
        counts.sum_duplicates()
        level = cls.__new__(cls)
        level.doc, level.count = counts.indices, counts.data
        level.start, level.df = counts.indptr[:-1], np.diff(counts.indptr)
        level.code = np.arange(n_tokens, dtype=np.int64)
        return level

    def keep(self, grams: np.ndarray) -> None:
        """Keep only the entries of the n-grams ``grams`` (sorted ids) and drop what naming them needed."""
        chosen = np.zeros(len(self.df), dtype=bool)
        chosen[grams] = True
        chosen = np.repeat(chosen, self.df)
        self.doc, self.count = self.doc[chosen], self.count[chosen]
        self.df = self.df[grams]
        self.code = self.start = None


def _group_grams(codes: np.ndarray, docs: np.ndarray, n_tokens: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Each entry's document, count and code, by code then document: the compiled ``group_grams``.

    ``codes`` are ``prefix * n_tokens + last token`` and ``docs`` ascending, as
    :class:`_Level` is given them with ``n_tokens``; both are overwritten
    (working memory). ``None`` where its counting sort would need many more
    buckets (tokens or prefixes) than there are codes (``codes`` and ``docs``
    are then as they were).
    ``tests/test_kernels.py`` checks it against the numpy grouping.
    """
    codes, docs = np.require(codes, np.int64, ["C", "W"]), np.require(docs, np.int32, ["C", "W"])  # (as a rule, as given)
    count = np.empty(len(codes), dtype=np.int32)
    n_entries = _kernels.group_grams(codes, docs, n_tokens, count)
    if n_entries < 0:
        return None
    return docs[:n_entries].copy(), count[:n_entries].copy(), codes[:n_entries]  # (codes: freed by the caller)


def _stable_code_order(codes: np.ndarray, n_tokens: int) -> np.ndarray:
    """The positions of ``codes`` (``prefix * n_tokens + last``, all >= 0) sorted by code, stably.

    Two counting sorts, least significant digit first (by the last token,
    then by the prefix), each the transposition of a one-row sparse matrix
    whose columns are the digits and whose values are the positions: linear
    in the number of codes, where a sort costs a logarithm more. Being
    stable, it keeps the entries of an n-gram in document order. Digits below
    2^16 are sorted by numpy's stable sort of 16-bit integers instead (a
    radix sort, also linear).

    Examples
    --------
    >>> _stable_code_order(np.array([7, 3, 5, 3, 0]), 4).tolist()
    [4, 1, 3, 2, 0]
    """
    n = len(codes)
    prefix, last = np.divmod(codes, n_tokens)
    if n_tokens <= 2**16 and int(prefix.max()) < 2**16:
        # digits of 16 bits: numpy's stable sort of them is its radix sort (the same order, ~20 % faster)
        order = np.argsort(last.astype(np.uint16), kind="stable")
        return order[np.argsort(prefix[order].astype(np.uint16), kind="stable")]
    order = np.arange(n)
    for digit, base in ((last, n_tokens), (prefix, int(prefix.max()) + 1)):
        row = sp.csr_matrix((order, digit[order], np.array([0, n])), shape=(1, base))
        order = row.tocsc().data  # by digit, in the order the positions came (csr_tocsc is stable)
    return order


def _normalise_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    """``sklearn.preprocessing.normalize(X, copy=False)`` of a CSR matrix of finite floats, in place.

    The same kernel as ``normalize`` (rows scaled to unit L2 norm, in the
    matrix's dtype), without its parameter validation and its pass over the
    values checking that they are finite (they are, being TF-IDF weights).
    """
    if _inplace_row_normalize_l2 is None:  # pragma: no cover - scikit-learn's module moved
        return normalize(X, norm="l2", copy=False)
    _inplace_row_normalize_l2(X)
    return X


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Positions where a run of equal values starts in a sorted array."""
    new = np.empty(len(values), dtype=bool)
    new[:1] = True
    np.not_equal(values[1:], values[:-1], out=new[1:])
    return np.flatnonzero(new)


def _run_lengths(starts: np.ndarray, total: int, dtype) -> np.ndarray:
    """Lengths of the runs starting at ``starts`` in an array of ``total`` values."""
    lengths = np.empty(len(starts), dtype=dtype)
    np.subtract(starts[1:], starts[:-1], out=lengths[:-1], casting="unsafe")
    lengths[-1:] = total - starts[-1:]
    return lengths


class _GramCounts:
    """Counts of the word n-grams of documents, by n-gram length, and how to name the n-grams.

    The names are built by :func:`_gram_names` from ``tokens`` and ``prefixes``.
    """

    def __init__(self, docs: Sequence[str], ngram_range, stop_words, strip_accents: bool):
        token_ids = _GrowingTokenIds(stop_words)
        ids, lengths = _tokenise(docs, token_ids, strip_accents)
        self._count(ids, lengths, token_ids.tokens, ngram_range)

    @classmethod
    def of_ids(cls, ids: np.ndarray, lengths: np.ndarray, tokens: list[str], ngram_range) -> "_GramCounts":
        """Counts of documents already tokenised (as by :func:`_tokenise`), ``tokens`` naming the ids."""
        counts = cls.__new__(cls)
        counts._count(ids, lengths, tokens, ngram_range)
        return counts

    def _count(self, ids: np.ndarray, lengths: np.ndarray, tokens: list[str], ngram_range) -> None:
        min_n, max_n = ngram_range
        self.n_docs = n_docs = len(lengths)
        self.tokens = tokens
        n_ids, V = len(ids), len(self.tokens)
        starts = _document_starts(lengths, n_ids)
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int32), lengths)
        self.prefixes: dict[int, np.ndarray] = {}  # n >= 2: code of each compact n-gram id
        self.levels: dict[int, _Level] = {}
        grams = None  # compact id of the (n-1)-gram starting at each position, -1 where none (n >= 3)
        # (arrays are freed as soon as possible: at 100,000 records there are 25 million tokens)
        for n in range(1, max_n + 1):
            if n == 1:
                if min_n == 1:
                    self.levels[1] = _Level.of_tokens(ids, lengths, V)
                continue
            valid = ~starts[n - 1 : n_ids]
            if grams is not None:
                valid &= grams[:-1] >= 0
            docs_n = doc_of[: len(valid)][valid] if n >= min_n else None
            if n == max_n:
                del doc_of, starts
            codes = np.multiply((ids[: len(valid)] if grams is None else grams[:-1])[valid], V, dtype=np.int64)
            codes += ids[n - 1 :][valid]
            if n == max_n:
                del ids, grams
            if n < max_n:  # the next length needs compact ids of these n-grams
                self.prefixes[n], inverse = np.unique(codes, return_inverse=True)
                grams = np.full(len(valid), -1, dtype=np.int64)
                grams[valid] = inverse.ravel()
                del inverse
            del valid
            if n >= min_n:
                self.levels[n] = _Level(codes, docs_n, n_docs, V)
            del codes, docs_n

    @classmethod
    def of_parts(cls, titles: Sequence[str], rests: Sequence[str], ngram_range, stop_words, strip_accents: bool):
        """Counts of the full texts ``title + "\\n" + rest`` and of the titles, tokenising each text once.

        The tokens of a full text are those of its title followed by those of
        the rest: lower-casing, accent stripping and the token pattern all stop
        at the line break (it is neither a word character, nor cased, nor
        case-ignorable, and Unicode normalisation does not reorder across it).
        The titles' token ids are renumbered in order of first appearance in
        the titles, as :class:`_GrowingTokenIds` numbers them when the titles
        are tokenised alone, so both counts are exactly those of
        ``_GramCounts(texts)`` and ``_GramCounts(titles)``.
        """
        token_ids = _GrowingTokenIds(stop_words)
        docs = [part for pair in zip(titles, rests) for part in pair]
        ids, lengths = _tokenise(docs, token_ids, strip_accents)
        del docs
        lengths = lengths.reshape(-1, 2)
        in_title = np.repeat(np.tile(np.array([True, False]), len(titles)), lengths.ravel())
        title_ids = ids[in_title]
        del in_title
        seen, first = np.unique(title_ids, return_index=True)
        seen = seen[np.argsort(first)]  # title tokens in order of first appearance
        renumber = np.empty(len(token_ids.tokens), dtype=ids.dtype)
        renumber[seen] = np.arange(len(seen), dtype=ids.dtype)
        tokens = token_ids.tokens
        title_tokens = [tokens[i] for i in seen.tolist()]
        title_counts = cls.of_ids(renumber[title_ids], lengths[:, 0].copy(), title_tokens, ngram_range)
        del title_ids, renumber
        return cls.of_ids(ids, lengths.sum(axis=1), tokens, ngram_range), title_counts

    def empty(self) -> bool:
        """Whether no n-gram was found (only stop words, or no words at all)."""
        return not any(len(level.df) for level in self.levels.values())

    def token_ids(self, n: int, codes: np.ndarray) -> np.ndarray:
        """The token ids of n-grams of length ``n`` given by their codes, one row each."""
        if n == 1:
            return codes[:, None]
        prefix, last = np.divmod(codes, len(self.tokens))
        if n > 2:
            prefix = self.prefixes[n - 1][prefix]
        return np.column_stack([self.token_ids(n - 1, prefix), last])

    def name_order(self, codes: dict[int, np.ndarray]) -> np.ndarray:
        """The order of the n-grams' names (``codes`` by length, taken one length after the other).

        Without building the names: a name is its tokens joined by spaces and
        a space sorts before every word character, so names sort as their
        sequences of token ranks do (a sequence before its continuations).
        Only the tokens of these n-grams are ranked, and while the rank
        sequences fit one int64 (base: the number of ranks + 1, 0 past the
        end) they are sorted as one key instead of one key per position.
        """
        tokens = self.tokens
        token_ids = {n: self.token_ids(n, level_codes) for n, level_codes in codes.items()}
        used = np.zeros(len(tokens), dtype=bool)
        for ids in token_ids.values():
            used[ids] = True
        used_ids = np.flatnonzero(used).tolist()
        rank = np.full(len(tokens), -1, dtype=np.int64)  # -1: not in these n-grams
        rank[np.asarray(sorted(used_ids, key=tokens.__getitem__), dtype=np.int64)] = np.arange(len(used_ids))
        total = sum(len(c) for c in codes.values())
        width = max(codes, default=1)
        base = len(used_ids) + 1
        if base**width < _KEY_LIMIT:
            key = np.zeros(total, dtype=np.int64)
            start = 0
            for n, ids in token_ids.items():
                part = key[start : start + len(ids)]
                for k in range(width):  # the first token's rank is the most significant digit
                    part *= base
                    if k < n:
                        part += rank[ids[:, k]] + 1
                start += len(ids)
            return np.argsort(key, kind="stable")  # (the keys are distinct: the n-grams are)
        keys = np.full((width, total), -1, dtype=np.int64)  # row k: rank of token k, -1 past the end
        start = 0
        for n, ids in token_ids.items():
            keys[:n, start : start + len(ids)] = rank[ids].T
            start += len(ids)
        return np.lexsort(keys[::-1])  # the first token's rank is the primary key


def _gram_names(tokens: list[str], prefixes: dict[int, np.ndarray], n: int, codes: np.ndarray) -> list[str]:
    """The strings of n-grams of length ``n`` given by their codes (see :class:`_GramCounts`)."""
    if n == 1:
        return [tokens[i] for i in codes.tolist()]
    prefix, last = np.divmod(codes, len(tokens))
    if n > 2:
        prefix = prefixes[n - 1][prefix]
    return [f"{p} {tokens[t]}" for p, t in zip(_gram_names(tokens, prefixes, n - 1, prefix), last.tolist())]


class _VocabularyIndex:
    """A fitted vocabulary as integer codes, to find its n-grams in new documents without building strings."""

    def __init__(self, vocabulary: dict[str, int], stop_words):
        terms = list(vocabulary)
        columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(terms))
        lengths = 1 + np.fromiter(map(str.count, terms, repeat(" ", len(terms))), dtype=np.int64, count=len(terms))
        flat = " ".join(terms).encode().split(b" ")
        unique = list(dict.fromkeys(flat))
        self.token_ids = _TokenIds(stop_words)
        self.token_ids.update(zip(unique, range(len(unique))))
        self.n_tokens = V = len(unique)
        token = np.fromiter(map(self.token_ids.__getitem__, flat), dtype=np.int64, count=len(flat))
        first = np.cumsum(lengths) - lengths
        self.columns: dict[int, np.ndarray] = {}  # n -> column of each n-gram prefix id (-1: only a prefix)
        self.codes: dict[int, np.ndarray] = {}  # n >= 2 -> sorted prefix codes
        alive = np.arange(len(terms))
        prefix = token[first]
        max_len = int(lengths.max()) if len(terms) else 0
        for n in range(1, max_len + 1):
            if n > 1:
                keep = lengths[alive] >= n
                alive, prefix = alive[keep], prefix[keep]
                self.codes[n], inverse = np.unique(prefix * V + token[first[alive] + n - 1], return_inverse=True)
                prefix = inverse.ravel()
            ends = lengths[alive] == n
            self.columns[n] = np.full(V if n == 1 else len(self.codes[n]), -1, dtype=np.int64)
            self.columns[n][prefix[ends]] = columns[alive[ends]]

    def counts(self, docs: Sequence[str], ngram_range, strip_accents: bool, n_features: int) -> sp.csr_matrix:
        min_n, max_n = ngram_range
        ids, lengths = _tokenise(docs, self.token_ids, strip_accents)
        n_ids = len(ids)
        starts = _document_starts(lengths, n_ids)
        doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        rows, cols = [], []
        grams = ids.astype(np.int64)
        for n in range(1, max_n + 1):
            if n not in self.columns:
                break
            if n > 1:
                candidate = (grams[:-1] >= 0) & (ids[n - 1 :] >= 0) & ~starts[n - 1 : n_ids]
                at = np.flatnonzero(candidate)
                codes = grams[at] * self.n_tokens + ids[n - 1 :][at]
                found = np.minimum(np.searchsorted(self.codes[n], codes), len(self.codes[n]) - 1)
                hit = self.codes[n][found] == codes
                grams = np.full(max(len(grams) - 1, 0), -1, dtype=np.int64)
                grams[at[hit]] = found[hit]
            if n >= min_n:
                at = np.flatnonzero(grams >= 0)
                column = self.columns[n][grams[at]]
                rows.append(doc_of[at[column >= 0]])
                cols.append(column[column >= 0])
        if not rows:
            rows, cols = [np.zeros(0, np.int32)], [np.zeros(0, np.int64)]
        key = np.concatenate(rows) * n_features + np.concatenate(cols)
        key, count = np.unique(key, return_counts=True)  # sorted by document, then column
        row, col = np.divmod(key, n_features)
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=len(docs)), out=indptr[1:])
        return _csr(count, col, indptr, (len(docs), n_features))


class _Tfidf(TfidfVectorizer):
    """scikit-learn's TfidfVectorizer with a vectorised path for word n-grams: same vocabulary, idf and matrix.

    The vectorised path covers what :class:`TextFeatures` uses (word
    analyzer, default token pattern, lower-casing, ``strip_accents`` None or
    ``"unicode"``, smooth idf, L2 norm); anything else goes through
    scikit-learn's own code.

    With ``collapse_once`` set (by :class:`TextFeatures`, not a constructor
    parameter) and ``min_df`` letting in terms of one document, those terms
    are left out of the vocabulary, and ``fit_transform`` leaves in
    ``once_values_`` each document's share of its row norm that they held
    (what one column per document carries); the other terms are weighted as
    they would be beside them. The vectorised path only; without it nothing
    is collapsed.
    """

    #: Collapse the terms of one document (see the class docstring).
    collapse_once = False

    @property
    def vocabulary_(self) -> dict[str, int]:
        """Term -> column, as in scikit-learn; named on first use after a vectorised fit."""
        unnamed = self.__dict__.get("_unnamed")
        if unnamed is not None:
            tokens, prefixes, codes, order = unnamed
            terms: list[str] = []
            for n, level_codes in codes.items():
                terms += _gram_names(tokens, prefixes, n, level_codes)
            names = [terms[i] for i in order.tolist()]
            del terms
            vocabulary = dict(zip(names, range(len(names))))
            self.__dict__["vocabulary_"], self._unnamed = vocabulary, None
            self._names = (vocabulary, np.asarray(names, dtype=object))
        try:
            return self.__dict__["vocabulary_"]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute 'vocabulary_'") from None

    @vocabulary_.setter
    def vocabulary_(self, value: dict[str, int]) -> None:
        self.__dict__["vocabulary_"], self._unnamed = value, None

    def _vectorised(self) -> bool:
        return (
            self.input == "content"
            and self.analyzer == "word"
            and self.tokenizer is None
            and self.preprocessor is None
            and self.token_pattern == _TOKEN_PATTERN
            and self.lowercase
            and self.strip_accents in (None, "unicode")
            and self.vocabulary is None
            and not self.binary
            and self.use_idf
            and self.smooth_idf
            and self.norm == "l2"
            and np.dtype(self.dtype) in (np.float32, np.float64)
        )

    # -- fitting in two steps, so that TextFeatures can retry the selection without re-reading the texts
    def _gram_counts(self, docs: Sequence[str]) -> _GramCounts:
        self._validate_params()
        self._validate_ngram_range()
        counts = _GramCounts(docs, self.ngram_range, self.get_stop_words(), self.strip_accents == "unicode")
        return self._checked(counts)

    @staticmethod
    def _checked(counts: _GramCounts) -> _GramCounts:
        if counts.empty():
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        return counts

    def _part_counts(self, titles: Sequence[str], rests: Sequence[str]) -> tuple[_GramCounts, _GramCounts]:
        """:meth:`_gram_counts` of the full texts and of the titles (:meth:`_GramCounts.of_parts`).

        Only the full texts' counts are checked; the titles' may be empty.
        """
        self._validate_params()
        self._validate_ngram_range()
        text_counts, title_counts = _GramCounts.of_parts(
            titles, rests, self.ngram_range, self.get_stop_words(), self.strip_accents == "unicode"
        )
        return self._checked(text_counts), title_counts

    def _fit_counts(self, counts: _GramCounts, transform: bool):
        """Vocabulary and idf from gram counts (scikit-learn's pruning, order and errors); the matrix if ``transform``."""
        n_doc = counts.n_docs
        high = self.max_df if isinstance(self.max_df, Integral) else self.max_df * n_doc
        low = self.min_df if isinstance(self.min_df, Integral) else self.min_df * n_doc
        if high < low:
            raise ValueError("max_df corresponds to < documents than min_df")
        dtype = np.dtype(self.dtype)
        self.once_values_, self.n_once_ = None, 0
        kept = {n: np.flatnonzero((level.df > 0) & (level.df <= high) & (level.df >= low)) for n, level in counts.levels.items()}
        if self.collapse_once and low <= 1 <= high and self.max_features is None:
            several = {n: np.flatnonzero((level.df >= 2) & (level.df <= high)) for n, level in counts.levels.items()}
            if any(len(grams) for grams in several.values()):  # else keep them: no other term to weigh
                self.n_once_ = n_doc  # one column per fitted document
                once_squares = self._once_squares(counts, n_doc) if transform else None
                kept = several
        if not any(len(grams) for grams in kept.values()):
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
        codes: dict[int, np.ndarray] = {}  # per length, the codes of the kept n-grams
        df_parts, tf_parts = [], []
        for n, level in counts.levels.items():
            grams = kept[n]
            codes[n] = level.code[grams]
            df_parts.append(level.df[grams])
            if self.max_features is not None:
                tf_parts.append(np.add.reduceat(level.count.astype(np.int64), level.start)[grams])
            if transform:  # counts are only needed for the kept n-grams now (the selection cannot fail any more)
                level.keep(grams)
        order = counts.name_order(codes)
        n_terms = len(order)
        if self.max_features is not None and len(order) > self.max_features:
            # scikit-learn: (-tfs[mask]).argsort()[:limit] over the name-sorted terms, tfs in the matrix dtype
            tfs = np.concatenate(tf_parts).astype(dtype)[order]
            chosen = np.zeros(len(order), dtype=bool)
            chosen[(-tfs).argsort()[: self.max_features]] = True
            order = order[chosen]
        column = np.full(n_terms, -1, dtype=np.int64)
        column[order] = np.arange(len(order))
        columns, start = {}, 0  # per length, the column of each kept n-gram (-1: dropped by max_features)
        for n, grams in kept.items():
            columns[n] = column[start : start + len(grams)]
            start += len(grams)
        self.fixed_vocabulary_ = False
        # the terms are named when vocabulary_ is first read (a simulation never reads it)
        self.__dict__.pop("vocabulary_", None)
        self._unnamed = (counts.tokens, counts.prefixes, codes, order)
        self._names = None
        self._index = None
        df = np.concatenate(df_parts)[order].astype(dtype)
        df += 1.0
        idf = np.full_like(df, fill_value=n_doc + 1, dtype=dtype)
        idf /= df
        np.log(idf, out=idf)
        idf += 1.0
        self._tfidf = TfidfTransformer(norm=self.norm, use_idf=True, smooth_idf=True, sublinear_tf=self.sublinear_tf)
        self._tfidf.idf_ = idf
        self._tfidf.n_features_in_ = len(order)
        if not transform:
            return None
        X = self._matrix(counts, columns, len(order), dtype)
        if not self.n_once_:
            return self._weigh(X)
        X = self._weigh(X, normalise=False)
        norms = row_norms(X, squared=True).astype(np.float64)
        norms += once_squares
        np.sqrt(norms, out=norms)
        norms[norms == 0.0] = 1.0
        scale = (1.0 / norms).astype(dtype)
        step = max(1, n_doc * _PIECE // max(X.nnz, 1))
        for r0 in range(0, n_doc, step):  # rows L2-normalised with the once-seen terms, in place
            r1 = min(n_doc, r0 + step)
            a, b = X.indptr[r0], X.indptr[r1]
            X.data[a:b] *= np.repeat(scale[r0:r1], np.diff(X.indptr[r0 : r1 + 1]))
        self.once_values_ = (np.sqrt(once_squares) / norms).astype(dtype)
        return X

    def _once_squares(self, counts: _GramCounts, n_doc: int) -> np.ndarray:
        """Per document, the sum of squared (unnormalised) TF-IDF weights of its terms of document frequency 1."""
        squares = np.zeros(n_doc)
        for level in counts.levels.values():
            entries = level.start[level.df == 1]  # one entry each
            tf = level.count[entries].astype(np.float64)
            if self.sublinear_tf:
                tf = np.log(tf) + 1.0
            squares += np.bincount(level.doc[entries], weights=tf * tf, minlength=n_doc)
        idf = np.log((n_doc + 1.0) / 2.0) + 1.0  # smooth idf of df = 1
        return squares * (idf * idf)

    @staticmethod
    def _matrix(counts: _GramCounts, columns: dict, n_columns: int, dtype) -> sp.csr_matrix:
        """The count matrix (``dtype``) of the kept n-grams, their columns given by length.

        The entries of an n-gram are contiguous and in document order, so the
        matrix is first assembled column by column (CSC: each n-gram's entries
        copied to where its column starts, one length and a few million
        entries at a time, each length's counts freed once copied) and then
        transposed to CSR by scipy's counting sort, linear in the number of
        entries, which leaves each row's columns ascending: no row is sorted,
        although its columns come from several lengths, interleaved by name.
        In memory together: the counts and the CSC arrays, then the CSC and
        the CSR arrays (the matrix twice, as before sorting rows in place).
        """
        n_doc = counts.n_docs
        for n, level in counts.levels.items():
            if (columns[n] < 0).any():  # max_features: drop the n-grams that have no column
                level.keep(np.flatnonzero(columns[n] >= 0))
                columns[n] = columns[n][columns[n] >= 0]
        df = np.zeros(n_columns, dtype=np.int64)
        for n, level in counts.levels.items():
            df[columns[n]] = level.df
        nnz = int(df.sum())
        index_dtype = np.int32 if max(nnz, n_columns, n_doc) < np.iinfo(np.int32).max else np.int64
        indptr = np.zeros(n_columns + 1, dtype=index_dtype)
        np.cumsum(df, out=indptr[1:])
        del df
        indices = np.empty(nnz, dtype=index_dtype)
        data = np.empty(nnz, dtype=dtype)
        for n in list(counts.levels):
            level = counts.levels.pop(n)  # frees this length's counts when done
            lengths = level.df.astype(np.int64)
            ends = np.cumsum(lengths)  # end of each n-gram's entries in the level
            shift = indptr[columns[n]].astype(np.int64) - ends + lengths  # its column's start - its entries' start
            g0 = 0
            while g0 < len(ends):  # n-grams g0:g1, about _PIECE entries
                a = int(ends[g0] - lengths[g0])
                g1 = max(g0 + 1, int(np.searchsorted(ends, a + _PIECE, side="right")))
                b = int(ends[g1 - 1])
                to = np.repeat(shift[g0:g1], lengths[g0:g1]) + np.arange(a, b)
                indices[to] = level.doc[a:b]
                data[to] = level.count[a:b]
                g0 = g1
            del level
        return sp.csc_matrix((data, indices, indptr), shape=(n_doc, n_columns)).tocsr()

    def _weigh(self, X: sp.csr_matrix, normalise: bool = True) -> sp.csr_matrix:
        """TfidfTransformer.transform: sublinear tf, idf, L2 norm (in place)."""
        if self.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        idf = self.idf_
        for start in range(0, X.nnz, _PIECE):  # (in pieces: no temporary array as large as the matrix)
            X.data[start : start + _PIECE] *= idf[X.indices[start : start + _PIECE]]
        return _normalise_rows(X) if normalise else X

    def fit(self, raw_documents, y=None):
        if not self._vectorised():
            return super().fit(raw_documents)
        self._fit_counts(self._gram_counts(list(raw_documents)), transform=False)
        return self

    def fit_transform(self, raw_documents, y=None):
        if not self._vectorised():
            return super().fit_transform(raw_documents)
        return self._fit_counts(self._gram_counts(list(raw_documents)), transform=True)

    def transform(self, raw_documents):
        if not self._vectorised():
            return super().transform(raw_documents)
        check_is_fitted(self, msg="The TF-IDF vectorizer is not fitted")
        self._check_vocabulary()
        docs = list(raw_documents)
        index = getattr(self, "_index", None)
        if index is None or index[0] is not self.vocabulary_:
            if sum(map(len, docs)) < _SMALL_TRANSFORM * len(self.vocabulary_):  # cheaper than indexing the vocabulary
                return super().transform(docs)
            index = self._index = (self.vocabulary_, _VocabularyIndex(self.vocabulary_, self.get_stop_words()))
        counts = index[1].counts(docs, self.ngram_range, self.strip_accents == "unicode", len(self.vocabulary_))
        return self._weigh(sp.csr_matrix(counts, dtype=self.dtype))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Terms in column order (computed once per vocabulary)."""
        self._check_vocabulary()
        names = getattr(self, "_names", None)
        if names is None or names[0] is not self.vocabulary_:
            terms = np.empty(len(self.vocabulary_), dtype=object)
            terms[np.fromiter(self.vocabulary_.values(), dtype=np.int64, count=len(terms))] = list(self.vocabulary_)
            names = self._names = (self.vocabulary_, terms)
        return names[1].copy()


class TextFeatures(TransformerMixin, BaseEstimator):
    """TF-IDF features of titles, abstracts and keywords.

    Parameters
    ----------
    ngram_range : tuple of int, default=(1, 2)
        Word n-grams of the whole text.
    min_df : int or float, default=1
        Minimum document frequency of a term. When it would leave no term at
        all (a handful of records) it falls back to 1. At 1, terms of one
        record are kept, collapsed per record (see ``once_terms``).
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
    once_terms : {"collapse", "keep"}, default="collapse"
        What to do with terms found in one fitted record only, when
        ``min_df`` keeps them. ``"collapse"``: each record's such terms
        become one column of its own per field (value: their joint weight,
        the L2 norm of their TF-IDF values), and the terms leave the
        vocabulary. The row norms are as with the terms kept, and a linear
        model with an L2 penalty (logistic regression, a linear SVM) reaches
        the same scores, because a term of one record can only move that
        record. The matrix is then ``n_records`` columns per field wider but
        has one non-zero for them per record instead of dozens, and the
        vocabulary does not grow with them. ``"keep"``: ordinary term
        columns, as in scikit-learn. Not applied with ``max_features``.
    dtype : numpy dtype, default=np.float32
        Output dtype.

    Attributes
    ----------
    text_vectorizer_ : TfidfVectorizer
        Fitted vectorizer of the whole text (a subclass of scikit-learn's with
        the same output; ``vocabulary_`` and ``idf_`` as in scikit-learn).
    title_vectorizer_ : TfidfVectorizer or None
        Fitted vectorizer of the title field.
    n_features_out_ : int
        Number of output columns.
    n_text_features_ : int
        Number of leading columns that belong to the whole-text field (its
        terms, then its once-seen columns); the title field's follow.

    Notes
    -----
    With ``once_terms="collapse"`` the once-seen columns belong to the records
    given to ``fit_transform``: ``transform`` leaves them zero (as for any term
    outside the vocabulary) and normalises rows without the once-seen terms,
    so ``fit(X).transform(X)`` differs from ``fit_transform(X)``, as with
    scikit-learn's ``TargetEncoder``. Use ``fit_transform`` for the records
    being screened.

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
        min_df: int | float = 1,
        max_df: float = 0.95,
        sublinear_tf: bool = True,
        stop_words: str | None = None,
        title_weight: float = 0.5,
        max_features: int | None = None,
        once_terms: str = "collapse",
        dtype=np.float32,
    ):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.sublinear_tf = sublinear_tf
        self.stop_words = stop_words
        self.title_weight = title_weight
        self.max_features = max_features
        self.once_terms = once_terms
        self.dtype = dtype

    #: The vectorizer fitted per field (``benchmarks/feature_speed.py`` swaps in scikit-learn's own).
    _vectorizer_class = _Tfidf

    def _vectorizer(self, ngram_range, min_df, max_df) -> TfidfVectorizer:
        if self.once_terms not in ("collapse", "keep"):
            raise ValueError(f"once_terms must be 'collapse' or 'keep', got {self.once_terms!r}")
        vectorizer = self._vectorizer_class(
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
        vectorizer.collapse_once = self.once_terms == "collapse"
        return vectorizer

    @classmethod
    def _fit_vectorizer(cls, make, texts, transform: bool):
        """Fit (and transform); with too few documents for min_df/max_df, keep every term."""
        vectorizer = make()
        if not vectorizer._vectorised():  # e.g. an unusual dtype: scikit-learn's own path
            return cls._refit(vectorizer, texts, vectorizer.fit_transform if transform else vectorizer.fit, transform)
        # texts are read once, even when min_df falls back
        return cls._fit_counted(vectorizer, vectorizer._gram_counts(texts), transform)

    @classmethod
    def _fit_counted(cls, vectorizer, counts: _GramCounts, transform: bool):
        """:meth:`_fit_vectorizer` of a vectorised :class:`_Tfidf` from its texts' n-gram counts."""
        return cls._refit(vectorizer, counts, lambda c: vectorizer._fit_counts(c, transform), transform)

    @staticmethod
    def _refit(vectorizer, counts, refit, transform: bool):
        """``refit(counts)``, again with ``min_df=1, max_df=1.0`` when these leave no term."""
        try:
            matrix = refit(counts)
        except ValueError as exc:  # "After pruning, no terms remain" or max_df < min_df
            if "no terms remain" not in str(exc) and "max_df corresponds" not in str(exc):
                raise
            vectorizer.set_params(min_df=1, max_df=1.0)
            matrix = refit(counts)
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
        items = _as_list(X)
        if not items:
            raise ValueError("TextFeatures.fit needs at least one record")
        make = lambda: self._vectorizer(self.ngram_range, self.min_df, self.max_df)  # noqa: E731
        self.title_vectorizer_, title_matrix = None, None
        vectorizer = make()
        if self.title_weight and isinstance(vectorizer, _Tfidf) and vectorizer._vectorised():
            # both fields from one tokenisation: a full text is its title, a line break and the rest
            titles, rests = _text_parts(items)
            text_counts, title_counts = vectorizer._part_counts(titles, rests)
            del rests
            self.text_vectorizer_, matrix = self._fit_counted(vectorizer, text_counts, transform)
            del text_counts
            fit_title = lambda: self._fit_counted(make(), _Tfidf._checked(title_counts), transform)  # noqa: E731
        else:
            texts, titles = record_texts(items)
            self.text_vectorizer_, matrix = self._fit_vectorizer(make, texts, transform)
            del texts
            fit_title = lambda: self._fit_vectorizer(make, titles, transform)  # noqa: E731
        if self.title_weight and any(t.strip() for t in titles):
            try:
                self.title_vectorizer_, title_matrix = fit_title()
            except ValueError:  # titles of stop words only: no title field
                self.title_vectorizer_ = None
        self._set_widths()
        if not transform:
            return None
        once = [getattr(v, "once_values_", None) for v in (self.text_vectorizer_, self.title_vectorizer_)]
        for vectorizer in (self.text_vectorizer_, self.title_vectorizer_):
            if vectorizer is not None:
                vectorizer.once_values_ = None  # per-fit data, not fitted state
        return self._combine(matrix, title_matrix, once)

    def _set_widths(self) -> None:
        widths = [
            len(v.idf_) + getattr(v, "n_once_", 0)  # (len(vocabulary_) would name the terms)
            for v in (self.text_vectorizer_, self.title_vectorizer_)
            if v is not None
        ]
        self.n_text_features_ = widths[0]
        self.n_features_out_ = sum(widths)

    def _combine(self, matrix, title_matrix, once=(None, None)) -> sp.csr_matrix:
        """The fields side by side, each with its once-seen columns (zero outside ``fit_transform``)."""
        blocks = [matrix, self._once_block(self.text_vectorizer_, once[0], matrix)]
        if self.title_vectorizer_ is not None:
            weight = np.asarray(self.title_weight, dtype=title_matrix.dtype)
            title_matrix.data *= weight
            title_once = once[1] * weight if once[1] is not None else None
            blocks += [title_matrix, self._once_block(self.title_vectorizer_, title_once, title_matrix)]
        blocks = [b for b in blocks if b is not None]
        if len(blocks) > 1:
            matrix = sp.hstack(blocks, format="csr")
        if self.title_vectorizer_ is not None:
            matrix = _normalise_rows(matrix)
        matrix = sp.csr_matrix(matrix, dtype=self.dtype)
        matrix.sort_indices()
        return matrix

    @staticmethod
    def _once_block(vectorizer, values, matrix) -> sp.csr_matrix | None:
        """The per-record columns of a field: ``values`` on the diagonal, or empty."""
        width = getattr(vectorizer, "n_once_", 0)
        if not width:
            return None
        n = matrix.shape[0]
        if values is None or len(values) != n:
            return sp.csr_matrix((n, width), dtype=matrix.dtype)
        rows = np.flatnonzero(values)
        return sp.csr_matrix((values[rows], (rows, rows)), shape=(n, width), dtype=matrix.dtype)

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
        parts = []
        for prefix, vectorizer in (("", self.text_vectorizer_), ("title:", self.title_vectorizer_)):
            if vectorizer is None:
                continue
            names = vectorizer.get_feature_names_out().tolist()
            names += [f"{ONCE_COLUMN_PREFIX}{i})" for i in range(getattr(vectorizer, "n_once_", 0))]
            parts.append(np.asarray([prefix + n for n in names] if prefix else names, dtype=object))
        return np.concatenate(parts)

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
            once = {name: int(getattr(fields[name], "n_once_", 0)) for name in present}
            meta = {"format": _FORMAT, "params": params, "fields": present, "once_columns": once}
            archive.writestr("meta.json", json.dumps(meta))
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
        if meta.get("format") not in _READABLE_FORMATS:
            raise ValueError(f"unsupported text-features format {meta.get('format')!r}; expected {_FORMAT!r}")
        params = dict(meta["params"])
        params["dtype"] = np.dtype(params["dtype"]).type
        params["ngram_range"] = tuple(params["ngram_range"])
        params.setdefault("once_terms", "keep")  # format 1 had no once-seen columns
        features = cls(**params)
        restored = {}
        for name in meta["fields"]:
            vocabulary = json.loads(archive.read(f"{name}.vocabulary.json"))
            idf = np.load(io.BytesIO(archive.read(f"{name}.idf.npy")), allow_pickle=False)
            vectorizer = features._vectorizer(features.ngram_range, features.min_df, features.max_df)
            vectorizer.vocabulary_ = vocabulary
            vectorizer.idf_ = idf
            vectorizer.n_once_ = int(meta.get("once_columns", {}).get(name, 0))  # format 1: none
            restored[name] = vectorizer
        features.text_vectorizer_ = restored["text"]
        features.title_vectorizer_ = restored.get("title")
        features._set_widths()
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

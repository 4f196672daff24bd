"""Turn the text of a number, a range or a dose into values a reviewer can tabulate.

These functions are pure (strings in, values out) so that the spaCy components
in :mod:`ldnscreen.extract.components`, the evaluation in
:mod:`ldnscreen.extract.train` and the tests all share one reading of
``"One hundred and fifty-five"``, ``"3,993"`` or ``"0.75 to 6 mg/day"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "NUMBER_WORDS",
    "DoseValue",
    "parse_number",
    "parse_range",
    "parse_dose",
    "normalise_unit",
    "normalise_frequency",
    "NUMBER_PATTERN",
    "UNIT_PATTERN",
    "FREQUENCY_PATTERN",
]

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "a": 1, "an": 1, "single": 1,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_SPECIAL = {"dozen": 12, "couple": 2, "pair": 2}

#: Every word :func:`parse_number` understands, for building patterns.
NUMBER_WORDS: frozenset[str] = frozenset(
    [w for w in _UNITS if w not in {"a", "an", "single"}] + list(_TENS) + list(_SCALES)
)

_word_alternation = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
#: A number written in digits (``3,993``, ``4.5``) or in words (``forty-five``,
#: ``one hundred and fifty-five``). Use with ``re.IGNORECASE``.
NUMBER_PATTERN = (
    r"(?:(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?![\d,])|\d+(?:\.\d+)?|\.\d+)"
    rf"|\b(?=[zotfsenhmZOTFSENHM])(?:{_word_alternation})(?:(?:[\s-]+|\s+and\s+)(?:{_word_alternation}))*\b)"
)

_UNIT_CANON = {
    "mg": "mg", "milligram": "mg", "milligrams": "mg",
    "g": "g", "gm": "g", "gram": "g", "grams": "g",
    "kg": "kg",
    "mcg": "µg", "µg": "µg", "μg": "µg", "ug": "µg", "microg": "µg", "micro g": "µg",
    "microgram": "µg", "micrograms": "µg",
    "ng": "ng", "nanogram": "ng", "nanograms": "ng",
    "iu": "IU", "u": "U", "units": "U", "unit": "U", "mu": "MU", "miu": "MIU",
    "ml": "mL", "l": "L", "mmol": "mmol", "µmol": "µmol", "meq": "mEq",
    "drop": "drop", "drops": "drop", "tablet": "tablet", "tablets": "tablet",
    "capsule": "capsule", "capsules": "capsule", "puff": "puff", "puffs": "puff",
    "dose": "dose", "doses": "dose", "gy": "Gy", "mbq": "MBq", "mci": "mCi",
}

#: A dose unit (``mg``, ``µg``, ``IU``, ``mL``, ``tablets``...).
UNIT_PATTERN = (
    r"(?:mg|milligrams?|micro\s?g|microg(?:rams?)?|mcg|[µμu]g|ng|nanograms?|grams?|gm|g"
    r"|kg|m?IU|MU|units?|U|mL|ml|L|l|mmol|[µμ]mol|mEq|drops?|tablets?|capsules?|puffs?"
    r"|doses|Gy|MBq|mCi)"
)

_PER_DAY = {
    "d": "daily", "day": "daily", "daily": "daily", "24 h": "daily", "24h": "daily",
    "h": "hourly", "hr": "hourly", "hour": "hourly",
    "wk": "weekly", "week": "weekly", "weekly": "weekly",
    "mo": "monthly", "month": "monthly", "dose": "per dose",
    "injection": "per injection", "infusion": "per infusion",
}

#: A schedule written after a dose: ``/day``, ``daily``, ``twice daily``,
#: ``at bedtime``, ``b.i.d.``, ``three times a week``...
FREQUENCY_PATTERN = (
    r"(?:(?:once|twice|thrice|(?:one|two|three|four|\d)\s+times?)\s+(?:a|per|each|every)?\s*(?:day|daily|week|weekly|month)"
    r"|(?:once|twice|thrice)\s+(?:daily|weekly|nightly)"
    r"|daily|nightly|weekly|monthly|per\s+(?:day|week|month|dose)|a\s+day|each\s+day|every\s+day"
    r"|every\s+(?:other\s+day|\d+\s*(?:h|hr|hours?|days?|weeks?))"
    r"|at\s+(?:bedtime|night|nighttime|night-time)|before\s+bed(?:time)?|in\s+the\s+(?:evening|morning)"
    r"|q\.?\s?d\.?|b\.?i\.?d\.?|t\.?i\.?d\.?|q\.?i\.?d\.?|q\.?h\.?s\.?|o\.?d\.?(?=\W)|qhs|bid|tid|qid)"
)

_FREQ_CANON = [
    (r"^(?:once\s+)?daily$|^(?:a|each|every|per)\s+day$|^q\.?\s?d\.?$|^o\.?d\.?$|^once\s+(?:a|per|each)\s+day$", "daily"),
    (r"^twice|^b\.?i\.?d\.?$|^two\s+times", "twice daily"),
    (r"^thrice|^t\.?i\.?d\.?$|^three\s+times\s+(?:a|per|each)?\s*day", "three times daily"),
    (r"^q\.?i\.?d\.?$|^four\s+times", "four times daily"),
    (r"bed|night|q\.?h\.?s|evening", "at bedtime"),
    (r"morning", "in the morning"),
    (r"week", "weekly"),
    (r"month", "monthly"),
    (r"other\s+day", "every other day"),
]


def parse_number(text: str) -> float | int | None:
    """Read a number written in digits or English words.

    Parameters
    ----------
    text : str
        ``"3,993"``, ``"4.5"``, ``"ten"``, ``"Forty-five"``,
        ``"One hundred and fifty-five"``, ``"a dozen"``.

    Returns
    -------
    int, float or None
        An ``int`` when the number is whole, a ``float`` otherwise, ``None``
        when the text is not a number.

    Examples
    --------
    >>> parse_number("One hundred and fifty-five")
    155
    >>> parse_number("3,993"), parse_number("4.5"), parse_number("ten")
    (3993, 4.5, 10)
    >>> parse_number("Four hundred ninety six")
    496
    >>> parse_number("patients") is None
    True
    """
    cleaned = text.strip().strip("()[],;:")
    if not cleaned:
        return None
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+|\d+", cleaned):
        return int(cleaned.replace(",", ""))
    if re.fullmatch(r"\d*\.\d+", cleaned):
        value = float(cleaned)
        return int(value) if value.is_integer() and "." not in cleaned else value
    words = [w for w in re.split(r"[\s-]+", cleaned.lower()) if w and w != "and"]
    if not words:
        return None
    total, current, seen = 0, 0, False
    for word in words:
        if word in _UNITS:
            if word in {"a", "an", "single"} and seen:
                return None
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _SPECIAL:
            current = max(current, 1) * _SPECIAL[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _SCALES:
            total += max(current, 1) * _SCALES[word]
            current = 0
        else:
            return None
        seen = True
    if words in (["a"], ["an"], ["single"]):
        return None
    return total + current


def parse_range(text: str) -> tuple[float | int, float | int] | None:
    """Read ``"0.75 to 6"``, ``"3-250"``, ``"from 1 to 4.5"``, ``"between 2 and 5"``.

    Parameters
    ----------
    text : str
        A range of two numbers, optionally with a unit after either bound.

    Returns
    -------
    tuple of (low, high) or None
        ``None`` when the text is not a range.

    Examples
    --------
    >>> parse_range("0.75 to 6")
    (0.75, 6)
    >>> parse_range("3-250 mg")
    (3, 250)
    >>> parse_range("titrated from 1 mg to 4.5 mg")
    (1, 4.5)
    >>> parse_range("twelve") is None
    True
    """
    match = re.search(
        rf"(?:from\s+|between\s+)?({NUMBER_PATTERN})\s*(?:{UNIT_PATTERN})?\s*"
        rf"(?:-|–|—|to|and|or|up\s+to)\s*({NUMBER_PATTERN})",
        text,
        flags=re.IGNORECASE,
    )
    if not match:
        return None
    low, high = parse_number(match.group(1)), parse_number(match.group(2))
    if low is None or high is None:
        return None
    return (low, high)


def normalise_unit(text: str) -> str:
    """Canonical spelling of a dose unit: ``"micrograms"`` -> ``"µg"``.

    Examples
    --------
    >>> normalise_unit("Milligrams"), normalise_unit("mcg"), normalise_unit("ml")
    ('mg', 'µg', 'mL')
    """
    key = re.sub(r"\s+", " ", text.strip().lower())
    return _UNIT_CANON.get(key, text.strip())


def normalise_frequency(text: str) -> str:
    """Canonical schedule: ``"b.i.d."`` -> ``"twice daily"``, ``"/d"`` -> ``"daily"``.

    Examples
    --------
    >>> normalise_frequency("at bedtime"), normalise_frequency("b.i.d."), normalise_frequency("/day")
    ('at bedtime', 'twice daily', 'daily')
    """
    key = re.sub(r"\s+", " ", text.strip().lower())
    if key.startswith("/") or key.startswith("per "):
        return _PER_DAY.get(key.lstrip("/").replace("per ", "", 1).strip(), key)
    for pattern, canon in _FREQ_CANON:
        if re.search(pattern, key):
            return canon
    return key


@dataclass(frozen=True)
class DoseValue:
    """A dose read from text.

    Attributes
    ----------
    low, high : float or int or None
        The amount; equal for a single value, different for a range,
        ``None`` for a qualitative dose (``"high-dose"``, ``"overdose"``).
    unit : str
        Canonical unit (``"mg"``, ``"µg"``, ``"IU"``...), ``""`` when absent.
    per : str
        ``"kg"`` for weight-based doses, ``"m2"`` for body-surface doses, else ``""``.
    frequency : str
        Canonical schedule (``"daily"``, ``"at bedtime"``...), else ``""``.
    qualitative : str
        ``"low"``, ``"high"``, ``"overdose"``... for doses without a number.
    """

    low: float | int | None
    high: float | int | None
    unit: str = ""
    per: str = ""
    frequency: str = ""
    qualitative: str = ""

    @property
    def is_range(self) -> bool:
        """True when low and high differ."""
        return self.low is not None and self.low != self.high

    def __str__(self) -> str:
        if self.low is None:
            return self.qualitative
        amount = f"{self.low:g}" if not self.is_range else f"{self.low:g}-{self.high:g}"
        unit = self.unit + (f"/{self.per}" if self.per else "")
        text = f"{amount} {unit}".strip()
        return f"{text} {self.frequency}".strip()


_DOSE_RE = re.compile(
    rf"(?P<low>{NUMBER_PATTERN})\s*(?:-?\s*(?P<lowunit>{UNIT_PATTERN})\b)?"
    rf"(?:\s*(?:-|–|—|to|and|or)\s*(?P<high>{NUMBER_PATTERN}))?"
    rf"\s*-?\s*(?P<unit>{UNIT_PATTERN})?"
    r"(?:\s*(?:/|per\s+)(?P<per>kg|m\s*\(?2\)?|m²|body\s+weight)\b)?"
    r"(?:\s*(?:/|per\s+)(?P<perfreq>d|day|h|hr|hour|wk|week|mo|month|24\s*h|dose|injection|infusion)\b)?",
    re.IGNORECASE,
)
_QUALITATIVE_RE = re.compile(
    r"\b(overdos(?:e|es|age)|(?:very\s+)?(?:low|high|higher|lower|excessive|moderate|toxic|standard|maximal|"
    r"maximum|supratherapeutic|therapeutic|large|massive|small|ultra-?low))\b",
    re.IGNORECASE,
)


def parse_dose(text: str) -> DoseValue | None:
    """Read a dose mention into amount(s), unit, per-kg / per-m2 and schedule.

    Parameters
    ----------
    text : str
        The dose as written, e.g. ``"4.5 mg/day"``, ``"0.75 to 6 mg"``,
        ``"1500 mg/m2"``, ``"1.5 mg at bedtime"``, ``"high-dose"``.

    Returns
    -------
    DoseValue or None
        ``None`` when the text holds neither a number nor a qualitative dose.

    Examples
    --------
    >>> parse_dose("4.5 mg/day")
    DoseValue(low=4.5, high=4.5, unit='mg', per='', frequency='daily', qualitative='')
    >>> str(parse_dose("0.75 to 6 mg")), str(parse_dose("3-250 mg"))
    ('0.75-6 mg', '3-250 mg')
    >>> d = parse_dose("1500 mg/m2"); (d.low, d.unit, d.per)
    (1500, 'mg', 'm2')
    >>> str(parse_dose("1.5 mg at bedtime"))
    '1.5 mg at bedtime'
    >>> str(parse_dose("titrated from 1 mg to 4.5 mg"))
    '1-4.5 mg'
    >>> parse_dose("high-dose").qualitative
    'high'
    """
    match = None
    for candidate in _DOSE_RE.finditer(text):
        if candidate.group("low") and (candidate.group("unit") or candidate.group("lowunit")):
            match = candidate
            break
        if match is None and candidate.group("low"):
            match = candidate
    if match is None or parse_number(match.group("low")) is None:
        qualitative = _QUALITATIVE_RE.search(text)
        if not qualitative:
            return None
        word = qualitative.group(1).lower()
        word = "overdose" if word.startswith("overdos") else re.sub(r"\s+", " ", word)
        return DoseValue(None, None, qualitative=word)
    low = parse_number(match.group("low"))
    high = parse_number(match.group("high")) if match.group("high") else low
    if high is None:
        high = low
    unit = match.group("unit") or match.group("lowunit") or ""
    per = (match.group("per") or "").lower().replace(" ", "").replace("(", "").replace(")", "")
    per = {"m²": "m2", "bodyweight": "kg"}.get(per, per)
    frequency = ""
    if match.group("perfreq"):
        frequency = normalise_frequency("/" + re.sub(r"\s+", " ", match.group("perfreq")))
    else:
        tail = text[match.end():]
        found = re.match(rf"\s*,?\s*(?:\w+\s+){{0,2}}?({FREQUENCY_PATTERN})", tail, re.IGNORECASE)
        if found:
            frequency = normalise_frequency(found.group(1))
    return DoseValue(low, high, normalise_unit(unit) if unit else "", per, frequency)

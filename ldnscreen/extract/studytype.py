"""Study design from publication types and the words of the title and abstract.

Rules, in order of precedence: publication types exported by the database
win over text; within text, designs that change how a study is abstracted
(evidence synthesis, non-human, non-empirical) are looked for before human
primary designs.
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["STUDY_TYPES", "classify_study_type"]

#: The designs :func:`classify_study_type` can return.
STUDY_TYPES = (
    "systematic review",
    "randomised controlled trial",
    "prospective non-randomised",
    "retrospective",
    "case report/series",
    "animal",
    "in vitro",
    "simulation/model",
    "other",
)

_PUBLICATION_TYPES = [
    (r"systematic review|meta-analysis", "systematic review"),
    (r"randomi[sz]ed controlled trial|controlled clinical trial|clinical trial, phase i{1,3}v?$", "randomised controlled trial"),
    (r"case reports?", "case report/series"),
    (r"observational study|clinical trial$|comparative study", ""),  # weak: let the text decide
]
_TEXT = [
    (r"\bsystematic(?:ally)? review|\bmeta-?analys[ie]s\b|\bpooled analysis of (?:randomi|trials)|\bscoping review",
     "systematic review"),
    (r"\bin silico\b|\bsimulation (?:study|model)|\bsimulated (?:data|patients|cohort)|\bcomputational model|"
     r"\bmathematical model|\bmarkov model|\bcost-effectiveness model|\bpharmacokinetic model(?:l)?ing|"
     r"\bmodel(?:l)?ing study|\bmicrosimulation", "simulation/model"),
    (r"\bin vitro\b|\bcell (?:line|culture)s?\b|\bcultured (?:cells|neurons|microglia)|\bhuman (?:cell|tissue) samples",
     "in vitro"),
    (r"\b(?:rats?|mice|mouse|murine|rodents?|rabbits?|dogs?|canine|porcine|pigs?|sheep|primates?|monkeys?|"
     r"zebrafish|animal model)\b", "animal"),
    (r"\brandomi[sz]ed\b[^.]{0,60}\b(?:trial|study|controlled|placebo|double-blind|crossover|cross-over)|"
     r"\brandomly (?:assigned|allocated|divided)|\b(?:double|single|triple)-blind(?:ed)?\b|\bplacebo-controlled\b"
     r"|\bRCT\b", "randomised controlled trial"),
    (r"\bretrospective(?:ly)?\b|\bchart review|\bmedical records? review|\breview of (?:the )?(?:medical )?records"
     r"|\bregistry data|\bclaims data|\bdatabase (?:study|analysis)", "retrospective"),
    (r"\bcase (?:report|series|study)\b|\bwe (?:report|describe|present) (?:a|an|the|two|three|four|five|\d+) "
     r"(?:\w+ ){0,3}(?:case|patient|woman|man|girl|boy|child)s?\b|\ba \d+-year-old\b",
     "case report/series"),
    (r"\bprospective(?:ly)?\b|\bopen-label\b|\bsingle-arm\b|\bnon-?randomi[sz]ed\b|\bpilot (?:study|trial)\b|"
     r"\bcohort study\b|\bphase (?:i|ii|1|2)\b|\bopen trial\b|\bfeasibility (?:study|trial)\b|\bcrossover\b",
     "prospective non-randomised"),
]
_HUMAN = re.compile(r"\b(?:patients?|participants?|volunteers?|women|men|children|subjects)\b", re.IGNORECASE)


def classify_study_type(text: str, publication_types: Iterable[str] = ()) -> str:
    """The study design of a record, one of :data:`STUDY_TYPES`.

    Parameters
    ----------
    text : str
        Title and abstract.
    publication_types : iterable of str
        Publication types from the export (``"Randomized Controlled Trial"``,
        ``"Case Reports"``, ``"Systematic Review"``...).

    Returns
    -------
    str

    Examples
    --------
    >>> classify_study_type("A randomized, double-blind, placebo-controlled trial of LDN in 31 women.")
    'randomised controlled trial'
    >>> classify_study_type("Low-dose naltrexone for pain", ["Journal Article", "Case Reports"])
    'case report/series'
    >>> classify_study_type("We retrospectively reviewed the charts of 47 patients given LDN.")
    'retrospective'
    >>> classify_study_type("Naltrexone reduced microglial activation in rats with nerve injury.")
    'animal'
    >>> classify_study_type("A systematic review and meta-analysis of LDN.")
    'systematic review'
    >>> classify_study_type("An open-label pilot study of LDN in 8 patients with CRPS.")
    'prospective non-randomised'
    """
    for publication_type in publication_types:
        lowered = publication_type.strip().lower()
        for pattern, design in _PUBLICATION_TYPES:
            if design and re.search(pattern, lowered):
                return design
    for pattern, design in _TEXT:
        if re.search(pattern, text, re.IGNORECASE):
            if design == "animal" and len(_HUMAN.findall(text)) > len(re.findall(pattern, text, re.IGNORECASE)):
                continue
            return design
    return "other"

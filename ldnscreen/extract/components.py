"""spaCy components that find doses, sample sizes and conditions in abstracts.

Importing this module registers the factories below with spaCy, so that a
pipeline written by :func:`ldnscreen.extract.train.main` loads with
``spacy.load`` once ``ldnscreen.extract`` has been imported.

==============================  ==============================================
factory                         writes
==============================  ==============================================
``ldnscreen_dose``              ``doc.spans["ldnscreen_dose"]`` (label DOSE)
``ldnscreen_sample_size``       ``doc.spans["ldnscreen_sample_size"]``
``ldnscreen_condition_lexicon`` ``doc.spans["ldnscreen_condition"]``
``ldnscreen_abbreviations``     ``doc.spans["ldnscreen_abbreviations"]``: every
                                short form, labelled with its long form
``ldnscreen_mentions``          ``doc.spans["ldnscreen"]``: the final DOSE,
                                SAMPLE_SIZE and CONDITION mentions, taken per
                                label from the rules, the trained ``ner`` or both
==============================  ==============================================
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from .normalise import FREQUENCY_PATTERN, NUMBER_PATTERN, UNIT_PATTERN, parse_number

__all__ = [
    "DoseFinder",
    "SampleSizeFinder",
    "ConditionLexicon",
    "AbbreviationFinder",
    "MentionMerger",
    "DOSE_GROUP",
    "SAMPLE_SIZE_GROUP",
    "CONDITION_GROUP",
    "ABBREVIATION_GROUP",
    "MENTION_GROUP",
    "find_abbreviations",
    "population_noun",
    "attach_drug",
    "is_drug_like",
    "plausible_sample_size",
]

DOSE_GROUP = "ldnscreen_dose"
SAMPLE_SIZE_GROUP = "ldnscreen_sample_size"
CONDITION_GROUP = "ldnscreen_condition"
ABBREVIATION_GROUP = "ldnscreen_abbreviations"
MENTION_GROUP = "ldnscreen"
LABELS = ("DOSE", "SAMPLE_SIZE", "CONDITION")

# --------------------------------------------------------------------------- dose

_NUM = NUMBER_PATTERN
_RANGE_SEP = r"(?:-|–|—|to|and|or|up\s+to)"
_PER = r"(?:\s*(?:/|per\s+)(?:kg|m\s*\(?2\)?|m²|body\s+weight)\b)?"
_PERFREQ = r"(?:\s*(?:/|per\s+)(?:d|day|h|hr|hour|wk|week|mo|month|24\s*h|dose|injection|infusion)\b)?"
_CONCENTRATION = r"(?!\s*/\s*(?:m?l|dl|ml|g|mg|kg\s*/\s*min)\b)"
_DOSE_SPAN_RE = re.compile(
    rf"(?:(?:titrated|increased|escalated|tapered|reduced|decreased)\s+(?:up\s+)?)?"
    rf"(?:from\s+|between\s+)?"
    rf"{_NUM}(?:\s*-?\s*{UNIT_PATTERN}\b{_PER})?"
    rf"(?:\s*(?:\+/-|±|\+/−)\s*{_NUM})?"
    rf"(?:\s*{_RANGE_SEP}\s*{_NUM})?"
    rf"\s*-?\s*{UNIT_PATTERN}\b{_CONCENTRATION}{_PER}{_PERFREQ}"
    rf"(?:\s*,?\s*(?:orally\s+|oral\s+|po\s+|p\.o\.\s+|i\.v\.\s+|iv\s+|intravenously\s+|subcutaneously\s+)?"
    rf"{FREQUENCY_PATTERN})?",
    re.IGNORECASE,
)
_QUALITATIVE_DOSE_RE = re.compile(
    r"(?:\b(?:very\s+)?['‘\"]?(?:low|high|higher|lower|excessive|moderate|toxic|standard|maximal|maximum|"
    r"supratherapeutic|large|massive|ultra-?low)['’\"]?[\s-]+(?:doses?|dosages?|dosing)\b"
    r"|\boverdos(?:e|es|age|ages)\b)",
    re.IGNORECASE,
)

_DRUG_SUFFIX_RE = re.compile(
    r"(?:xone|sone|olone|idone|azone|terone|pirone|amine|idine|azine|apine|etine|oline|oxine|ptyline|"
    r"tine|pine|rine|cine|caine|zine|mine|dine|line|nine|sine|gine|mide|zide|ptide|otide|oride|"
    r"olol|amol|adol|diol|idol|terol|anol|azol|statin|mycin|micin|platin|parin|pirin|farin|formin|abalin|"
    r"pentin|sulin|oxin|ubicin|icin|arin|tecin|mab|nib|pril|sartan|azole|cillin|cycline|oxacin|vir|"
    r"afil|zepam|zolam|fen|ium|trexate|taxel|rubicin|prazole|dipine|triptan|barbital|dronate|mustine|"
    r"fungin|tecan|phamide|lukast|setron|phylline|oside|acid|mus|lim|xib|tide|sulfate|mesylate|"
    r"hydrochloride|citrate|phosphate|acetate|valproate|aurothiomalate|ethasone|olide|ipine|ine|nide|"
    r"oin|osin|cam|nitrate|dinitrate|sulfamethoxazole|trimethoprim|penicillamine)$",
    re.IGNORECASE,
)
_NOT_DRUGS = frozenset(
    """medicine routine urine baseline line fine define decline combine determine examine genuine
    machine online guideline guidelines discipline feminine masculine intestine uterine canine bovine
    porcine murine equine feline vaccine marine alpine pristine doctrine engine imagine cuisine turbine
    endocrine exocrine spine shine mine nine wine pine sunshine midline deadline hotline outline
    underline timeline pipeline airline borderline decline online medline determine examine
    famine jasmine magazine routine quarantine trampoline gasoline cousin intestine nicotine-free
    respectively premium medium compendium stadium podium sodium calcium potassium magnesium
    equilibrium consortium gymnasium delirium symposium atrium criterium curriculum aluminium
    consortia tedium opium acid amino fatty uric basic
    combine examined determined genuine whine spine engine outline
    stimulus minimus ramus animus thus status virus bonus focus census campus sinus fetus
    uterus humerus hippocampus nucleus stimulus hiatus apparatus tinnitus
    often chronic effect effects defect defects infect infection protein proteins toxin toxins
    margin origin begin within cabin coin join domain chain brain gain pain again certain
    contain maintain obtain main remain sustain explain plain rain train drain twin skin shin thin
    vitamin tendon saline decline examine femine online iodine doctrine baseline
    determine combine routine urine alkaline creatine creatinine bilirubin hemoglobin albumin
    medline intestine genuine masculine feminine uterine discipline famine alpine engine
    sunshine shrine divine marine ravine cuisine imagine quarantine machine magazine cousine
    guideline guidelines deadline outline underline lifeline midline pipeline timeline airline
    canine bovine porcine murine ovine equine feline leonine saturnine
    wide side guide inside outside nationwide worldwide decide provide divide override pride bride
    aside beside coincide reside preside subside tide ride hide slide glide
    join coin loin groin
    mab""".split()
)
_DRUG_WORDS = frozenset(
    """naltrexone ldn naloxone ketamine morphine methadone buprenorphine oxycodone tramadol
    codeine fentanyl hydromorphone gabapentin pregabalin duloxetine amitriptyline nortriptyline
    milnacipran cyclobenzaprine ibuprofen naproxen paracetamol acetaminophen aspirin celecoxib
    prednisone prednisolone dexamethasone methylprednisolone methotrexate mtx interferon insulin
    heparin warfarin lithium gold cisplatin carboplatin paclitaxel docetaxel doxorubicin busulfan
    melphalan cytarabine ara-c ifn ifn-alpha tacalcitol copaxone bisphosphonate bisphosphonates
    pamidronate alendronate zoledronate clodronate neridronate lidocaine capsaicin botulinum
    vitamin cannabidiol thc nabilone dronabinol memantine dextromethorphan clonidine""".split()
)


def is_drug_like(token) -> bool:
    """Whether a token looks like a drug name.

    A small lexicon of analgesics and common drugs, plus the suffixes of
    International Nonproprietary Names (``-xone``, ``-amine``, ``-mab``...)
    minus common English words that share them.

    Examples
    --------
    >>> import spacy
    >>> doc = spacy.blank("en")("naltrexone 4.5 mg at bedtime in a routine visit")
    >>> [t.text for t in doc if is_drug_like(t)]
    ['naltrexone']
    """
    lower = token.lower_
    if lower in _DRUG_WORDS:
        return True
    if len(lower) < 5 or not token.text[0].isalpha() or lower in _NOT_DRUGS:
        return False
    return bool(_DRUG_SUFFIX_RE.search(lower))


def _char_spans(doc: Doc, pattern: re.Pattern, label: str, group: int | str = 0) -> list[Span]:
    spans = []
    for match in pattern.finditer(doc.text):
        start, end = match.span(group)
        if start == end:
            continue
        span = doc.char_span(start, end, label=label, alignment_mode="expand")
        if span is not None and len(span):
            spans.append(span)
    return spans


class DoseFinder:
    """Find doses: amounts with units, ranges, per-kg/m2, schedules, and qualitative doses.

    Parameters
    ----------
    qualitative : bool
        Also mark ``"high-dose"``, ``"low dose"``, ``"overdose"``.

    Examples
    --------
    >>> import spacy
    >>> nlp = spacy.blank("en"); _ = nlp.add_pipe("ldnscreen_dose")
    >>> doc = nlp("Patients took 4.5 mg/day, titrated from 1 mg to 4.5 mg; 12 weeks; 45% improved.")
    >>> [s.text for s in doc.spans["ldnscreen_dose"]]
    ['4.5 mg/day', 'titrated from 1 mg to 4.5 mg']
    """

    def __init__(self, qualitative: bool = True) -> None:
        self.qualitative = qualitative

    def __call__(self, doc: Doc) -> Doc:
        spans = _char_spans(doc, _DOSE_SPAN_RE, "DOSE")
        if self.qualitative:
            spans += _char_spans(doc, _QUALITATIVE_DOSE_RE, "DOSE")
        doc.spans[DOSE_GROUP] = sorted(filter_spans(spans), key=lambda s: s.start)
        return doc


_DRUG_GAP = frozenset(
    "of ( ) [ the oral orally intravenous intravenously i.v. iv intrathecal subcutaneous topical "
    "sublingual daily nightly , low-dose dose doses a an".split()
)


_NOT_DRUG_ABBREVIATIONS = frozenset(
    "AUC BMI CI SD SE IQR IV PO IM SC HUS TEN RCT HIV AIDS ICU ED BP HR CT MRI ECG EEG US UK USA FDA WHO "
    "NS OR RR VAS NRS QOL DNA RNA CNS PK PD MG MS ME CFS CRPS".split()
)
_SALTS = frozenset(
    "acid dinitrate mononitrate hydrochloride sulfate sulphate acetate citrate phosphate tartrate maleate "
    "mesylate succinate arabinoside aurothiomalate fumarate bromide chloride".split()
)


def attach_drug(dose: Span) -> Span | None:
    """The drug a dose belongs to: the drug-like token next to the dose, else the nearest in its sentence.

    Looks first immediately before the dose (``"naltrexone 4.5 mg"``,
    ``"naltrexone (4.5 mg)"``), then after it (``"4.5 mg of naltrexone"``),
    then takes the drug-like token nearest the dose within the sentence.

    Examples
    --------
    >>> import spacy
    >>> nlp = spacy.blank("en"); _ = nlp.add_pipe("ldnscreen_dose")
    >>> doc = nlp("She received 100 mg of sodium aurothiomalate and methotrexate.")
    >>> attach_drug(doc.spans["ldnscreen_dose"][0]).text
    'sodium aurothiomalate'
    """
    doc = dose.doc
    try:
        sent = dose.sent
        lo, hi = sent.start, sent.end
    except ValueError:
        lo, hi = 0, len(doc)

    def widen(i: int) -> Span:
        start, end = i, i + 1
        if doc[i].lower_ in _SALTS and i > lo and doc[i - 1].is_alpha:
            start = i - 1
        if start > lo and doc[start - 1].lower_ in {"sodium", "potassium", "calcium", "magnesium", "cytosine",
                                                     "valproic", "low-dose", "folic"}:
            start -= 1
        if end < hi and doc[end].lower_ in {"acid", "sodium", "hydrochloride", "alfa", "alpha", "b"}:
            end += 1
        return doc[start:end]

    def acceptable(i: int) -> bool:
        token = doc[i]
        return is_drug_like(token) or (
            re.fullmatch(r"[A-Z][A-Z0-9-]{1,7}", token.text) is not None and token.text not in _NOT_DRUG_ABBREVIATIONS
        )

    i = dose.start - 1
    while i >= lo and dose.start - i <= 2 and doc[i].text in {"(", "[", ","}:
        i -= 1
    if i >= lo and acceptable(i):
        return widen(i)
    i, steps = dose.end, 0
    while i < hi and steps < 4 and doc[i].lower_ in _DRUG_GAP:
        i, steps = i + 1, steps + 1
    if i < hi and acceptable(i):
        return widen(i)
    candidates = [t.i for t in doc[lo:hi] if is_drug_like(t) and not (dose.start <= t.i < dose.end)]
    if not candidates:
        return None
    best = min(candidates, key=lambda j: (dose.start - j if j < dose.start else j - dose.end + 1, j > dose.start))
    return widen(best)


# --------------------------------------------------------------------------- sample size

_POPULATION_NOUNS = (
    "patients|patient|subjects|subject|participants|participant|volunteers|individuals|persons|people|adults|"
    "children|child|infants|neonates|newborns|adolescents|youths|boys|girls|men|women|man|woman|males|females|"
    "cases|controls|students|nurses|physicians|doctors|clinicians|veterans|smokers|respondents|residents|"
    "mothers|fathers|parents|families|couples|pairs|twins|dyads|outpatients|inpatients|survivors|athletes|"
    "workers|employees|recipients|donors|users|records|articles|studies|trials|reports|papers|publications|"
    "abstracts|citations|rats|mice|dogs|animals|pigs|rabbits|horses|cats|monkeys|sheep|cows|calves|"
    "eligible|evaluable|enrolled|randomized|randomised|pregnancies|deliveries|births|admissions|"
    "consumers|caregivers|teachers|surgeons|pharmacists|practitioners|pediatricians|paediatricians|dentists|"
    "midwives|providers|managers|speakers|youth|members|specimens|teeth|molars|premolars|incisors|steers|goats|"
    "cattle|heifers|piglets|broilers|hens|ewes|lambs|horses|female|male|infants|toddlers|pupils|"
    "smokers|drinkers|gamblers|runners|swimmers|soldiers|recruits|employees|patients'|"
    "trial\\s+participants|healthy"
)
_BLOCKED_MODIFIERS = (
    r"years?|yrs?|months?|weeks?|wk|days?|hours?|h|hrs?|minutes?|min|seconds?|times|fold|percent|per|than|more|"
    r"less|who|were|was|had|have|has|with|in|at|on|for|to|from|by|of|and|or|mg|g|kg|ml|doses?|cycles?|sessions?|"
    r"visits?|points?|items?|questions?|weeks'|centres|centers|sites|hospitals|countries|groups?|arms?|eyes|"
    r"knees|hips|lesions|tablets|capsules|injections|procedures|operations|episodes|events|"
    r"the|a|an|these|those|all|each|other|old|aged|mean|median|age"
)
_SAMPLE_VERBS = (
    r"were|was|had|have|completed|withdrew|received|underwent|participated|took\s+part|died|responded|"
    r"dropped\s+out|agreed|consented|met"
)
#: A count followed by a population noun ("25 fibromyalgia patients") or by a verb
#: ("Of 435 patients, 233 were treatment naive"), in one pass over the text.
_SAMPLE_NOUN_RE = re.compile(
    rf"(?P<num>{_NUM})(?:\s*\(\s*\d+(?:\.\d+)?\s*%\s*\))?(?:\s+"
    rf"(?P<mods>(?:(?!(?:{_BLOCKED_MODIFIERS})\b)[A-Za-z][\w'/-]*\s*,?\s+){{0,4}}?)"
    rf"(?P<noun>{_POPULATION_NOUNS})\b|\s*,?\s+(?:{_SAMPLE_VERBS})\b)",
    re.IGNORECASE,
)
_SAMPLE_N_RE = re.compile(r"(?<![\w.])[nN]\s*=\s*(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?![\d.%])")
_NOT_BEFORE = re.compile(
    r"(?:\baged?|\bages|\bp|\bmean|\bmedian|\bday|\bweek|\bmonth|\byear|\bversion|\bgrade|\bstage|\btype|"
    r"\bphase|\bscore|\bdose|\bdoses|\bfigure|\bfig\.?|\btable|\bvs\.?|\bin|\bsince|\bduring|\bby|\buntil|"
    r"\bbetween|\bfrom|\bof\s+the\s+first|\b[<>≤≥=]|\bapproximately\s+\d+\s*(?:-|to))\s*$",
    re.IGNORECASE,
)
_NOT_AFTER = re.compile(
    r"^\s*(?:%|percent|years?|yrs?|year-old|-year|months?|weeks?|days?|hours?|h\b|min|mg|g\b|kg|ml|times|fold|"
    r"\.\d|/\d|mmHg|cm|mm|points?)",
    re.IGNORECASE,
)
_POP_NOUN_RE = re.compile(rf"^(?:{_POPULATION_NOUNS})$", re.IGNORECASE)


def plausible_sample_size(span: Span) -> bool:
    """Whether a span can be a count of participants rather than an age, year, dose, percentage or p-value.

    Examples
    --------
    >>> import spacy
    >>> doc = spacy.blank("en")("aged 45 years , 45 % , p = 0.03 , in 2015 , 12 weeks , 25 patients")
    >>> [plausible_sample_size(doc[i:i + 1]) for i in (1, 4, 9, 12, 14, 17)]
    [False, False, False, False, False, True]
    """
    doc = span.doc
    text = span.text
    number = re.search(_NUM, text, re.IGNORECASE)
    if not number:
        return False
    value = parse_number(number.group(0))
    if not isinstance(value, int) or value <= 0 or "." in number.group(0):
        return False
    before = doc.text[max(0, span.start_char - 30):span.start_char]
    if not re.search(r"[nN]\s*=\s*$", before + text[: number.start()]):
        if _NOT_BEFORE.search(before + text[: number.start()]):
            # "in 20 patients" is fine; "in 2015" is not
            if re.search(r"\b(?:in|by|from|of|between)\s*$", before, re.IGNORECASE) and not (
                1900 <= value <= 2030
            ):
                pass
            else:
                return False
    after = text[number.end():] + doc.text[span.end_char:span.end_char + 12]
    if _NOT_AFTER.search(after):
        return False
    if 1900 <= value <= 2030 and not population_noun(span):
        return False
    return True


def population_noun(span: Span) -> str:
    """The population noun a sample size counts (``"patients"``, ``"healthy volunteers"``), or ``""``.

    Examples
    --------
    >>> import spacy
    >>> doc = spacy.blank("en")("We enrolled 25 fibromyalgia patients .")
    >>> population_noun(doc[2:3])
    'fibromyalgia patients'
    >>> doc = spacy.blank("en")("Women with fibromyalgia (N=31) took part.")
    >>> population_noun(doc[4:5])
    'Women'
    """
    doc = span.doc
    n_equals = bool(re.match(r"[nN]\s*=", span.text)) or (
        span.start >= 1 and doc[span.start - 1].text == "="
    )
    if n_equals:
        # "patients (n = 20)": the noun comes before the bracket
        for i in range(span.start - 1, max(-1, span.start - 10), -1):
            if _POP_NOUN_RE.match(doc[i].text) and doc[i].lower_ not in _NOT_NOUNS:
                return doc[i].text
        return ""
    for i in range(span.end, min(len(doc), span.end + 6)):
        if doc[i].is_punct and doc[i].text not in {"(", ")", "%", "-", "/"}:
            break
        if _POP_NOUN_RE.match(doc[i].text) and doc[i].lower_ not in _NOT_NOUNS:
            while i + 1 < len(doc) and _POP_NOUN_RE.match(doc[i + 1].text) and doc[i + 1].lower_ not in _NOT_NOUNS:
                i += 1
            start = span.end
            while start < i and (doc[start].like_num or doc[start].text in {"(", ")", "%"}):
                start += 1
            return doc[start:i + 1].text
    return ""


_NOT_NOUNS = frozenset({"eligible", "evaluable", "enrolled", "randomized", "randomised", "healthy"})


class SampleSizeFinder:
    """Find sample sizes: ``"n = 267"``, ``"25 fibromyalgia patients"``, ``"ten healthy volunteers"``.

    The span covers the number only (``"n=418"`` when written as one
    token), as in the EBM-NLP annotations; the counted population is read
    by :func:`population_noun`.

    Examples
    --------
    >>> import spacy
    >>> nlp = spacy.blank("en"); _ = nlp.add_pipe("ldnscreen_sample_size")
    >>> doc = nlp("Ten healthy volunteers aged 45 years and 25 fibromyalgia patients (n = 25) took 4.5 mg for 12 weeks.")
    >>> [s.text for s in doc.spans["ldnscreen_sample_size"]]
    ['Ten', '25', '25']
    """

    def __call__(self, doc: Doc) -> Doc:
        spans = _char_spans(doc, _SAMPLE_NOUN_RE, "SAMPLE_SIZE", "num")
        spans += _char_spans(doc, _SAMPLE_N_RE, "SAMPLE_SIZE", "num")
        kept = [s for s in spans if plausible_sample_size(s)]
        doc.spans[SAMPLE_SIZE_GROUP] = sorted(filter_spans(kept), key=lambda s: s.start)
        return doc


# --------------------------------------------------------------------------- conditions

_CONDITION_HEAD_RE = re.compile(
    r"^(?:syndromes?|diseases?|disorders?|cancers?|carcinomas?|tumou?rs?|neoplasms?|leuka?emias?|lymphomas?|"
    r"sarcomas?|melanomas?|myelomas?|\w{3,}itis|\w{3,}osis|\w{3,}emia|\w{3,}aemia|\w{3,}pathy|\w{3,}pathies|"
    r"\w{3,}algia|pain|infections?|injury|injuries|failure|diabetes|hypertension|depression|asthma|dementia|"
    r"epilepsy|fibromyalgia|insufficiency|illness|migraines?|headaches?|stroke|obesity|deficiency|dystrophy|"
    r"sclerosis|palsy|autism|schizophrenia|psychosis|anxiety|insomnia|ulcers?|fractures?|hernias?|"
    r"encephalomyelitis|CRPS|ME/CFS|HIV|AIDS|COPD|PTSD|ADHD)$",
    re.IGNORECASE,
)
_CONDITION_STOP = frozenset(
    """the a an of in with and or for to on at by from as was were is are be been this that these those
    patients patient subjects participants who which than more less after before during between among
    all each both their its our we our study trial treatment therapy effect effects group groups
    randomized randomised controlled placebo double-blind clinical significant""".split()
)


class ConditionLexicon:
    """Rules baseline for conditions: a phrase lexicon plus disease head words with their modifiers.

    Parameters
    ----------
    terms : list of str
        Condition names matched case-insensitively as whole phrases.

    Examples
    --------
    >>> import spacy
    >>> nlp = spacy.blank("en")
    >>> _ = nlp.add_pipe("ldnscreen_condition_lexicon", config={"terms": ["Gulf War Illness"]})
    >>> doc = nlp("Veterans with Gulf War Illness and complex regional pain syndrome were enrolled.")
    >>> [s.text for s in doc.spans["ldnscreen_condition"]]
    ['Gulf War Illness', 'complex regional pain syndrome']
    """

    def __init__(self, vocab, terms: Iterable[str] = ()) -> None:
        from spacy.matcher import PhraseMatcher

        self.vocab = vocab
        self.terms = sorted(set(terms))
        self._matcher = PhraseMatcher(vocab, attr="LOWER")
        self._build()

    def _build(self) -> None:
        from spacy.lang.en import English

        make = English().make_doc
        if "CONDITION" in self._matcher:
            self._matcher.remove("CONDITION")
        self._matcher.add("CONDITION", [make(t) for t in self.terms])

    def __call__(self, doc: Doc) -> Doc:
        spans = [Span(doc, s, e, label="CONDITION") for _, s, e in self._matcher(doc)]
        for token in doc:
            if not _CONDITION_HEAD_RE.match(token.text) or token.lower_ in _CONDITION_STOP:
                continue
            start = token.i
            while (
                start > 0
                and token.i - start < 4
                and doc[start - 1].is_alpha
                and doc[start - 1].lower_ not in _CONDITION_STOP
                and not doc[start - 1].like_num
                and not doc[start - 1].is_sent_start
            ):
                start -= 1
            end = token.i + 1
            if end < len(doc) and re.fullmatch(r"type|I{1,3}|[1-3]", doc[end].text) and token.text.isupper():
                end += 1
                if end < len(doc) and re.fullmatch(r"I{1,3}|[1-3]", doc[end].text):
                    end += 1
            spans.append(Span(doc, start, end, label="CONDITION"))
        doc.spans[CONDITION_GROUP] = sorted(filter_spans(spans), key=lambda s: s.start)
        return doc

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "terms.json").write_text(json.dumps(self.terms, indent=0), encoding="utf-8")

    def from_disk(self, path, *, exclude=tuple()) -> "ConditionLexicon":
        self.terms = json.loads((Path(path) / "terms.json").read_text(encoding="utf-8"))
        self._build()
        return self


# --------------------------------------------------------------------------- abbreviations


def _long_form(words: list[str], short: str) -> int | None:
    """Schwartz & Hearst (2003): index into ``words`` where the long form of ``short`` starts."""
    s_chars = [c.lower() for c in short if c.isalnum()]
    if not s_chars:
        return None
    text = " ".join(words)
    s_i, l_i = len(s_chars) - 1, len(text) - 1
    while s_i >= 0:
        c = s_chars[s_i]
        while l_i >= 0 and (
            text[l_i].lower() != c or (s_i == 0 and l_i > 0 and text[l_i - 1].isalnum())
        ):
            l_i -= 1
        if l_i < 0:
            return None
        s_i -= 1
        l_i -= 1
    start_char = text.rfind(" ", 0, l_i + 1) + 1
    return len(text[:start_char].split())


def find_abbreviations(doc: Doc) -> dict[str, Span]:
    """Abbreviations the text defines, ``"long form (SF)"``, as ``{short form: long-form span}``.

    Examples
    --------
    >>> import spacy
    >>> doc = spacy.blank("en")("Complex regional pain syndrome (CRPS) is rare. CRPS type 1 hurts.")
    >>> {k: v.text for k, v in find_abbreviations(doc).items()}
    {'CRPS': 'Complex regional pain syndrome'}
    """
    found: dict[str, Span] = {}
    for token in doc:
        if token.text != "(" or token.i < 1:
            continue
        close = next((t.i for t in doc[token.i + 1:token.i + 6] if t.text == ")"), None)
        if close is None or close == token.i + 1:
            continue
        short = doc[token.i + 1:close].text.replace(" ", "")
        if not (2 <= len(short) <= 10) or not any(c.isupper() for c in short) or not short[0].isalnum():
            continue
        if short in found:
            continue
        n_letters = sum(c.isalnum() for c in short)
        window_start = max(0, token.i - min(n_letters + 5, 2 * n_letters))
        try:
            window_start = max(window_start, token.sent.start)
        except ValueError:
            pass
        words = [t.text for t in doc[window_start:token.i]]
        offset = _long_form(words, short)
        if offset is None:
            continue
        long_span = doc[window_start + offset:token.i]
        if len(long_span) and len(long_span.text) > len(short):
            found[short] = long_span
    return found


class AbbreviationFinder:
    """Mark every occurrence of a short form the abstract defines, labelled with its long form.

    Examples
    --------
    >>> import spacy
    >>> nlp = spacy.blank("en"); _ = nlp.add_pipe("ldnscreen_abbreviations")
    >>> doc = nlp("Gulf War Illness (GWI) affects veterans. GWI is chronic.")
    >>> [(s.text, s.label_) for s in doc.spans["ldnscreen_abbreviations"]]
    [('GWI', 'Gulf War Illness'), ('GWI', 'Gulf War Illness')]
    """

    def __call__(self, doc: Doc) -> Doc:
        defined = find_abbreviations(doc)
        spans = []
        for short, long_span in defined.items():
            pattern = re.compile(rf"(?<![\w-]){re.escape(short)}(?![\w-])")
            for match in pattern.finditer(doc.text):
                span = doc.char_span(match.start(), match.end(), label=long_span.text, alignment_mode="expand")
                if span is not None:
                    spans.append(span)
        doc.spans[ABBREVIATION_GROUP] = sorted(spans, key=lambda s: s.start)
        return doc


# --------------------------------------------------------------------------- merging


_EDGE_WORDS = frozenset("was were is are be been has have had as and or of in with for to by at on the a an".split())


def _trim(span: Span) -> Span | None:
    """Drop punctuation and function words at the edges of a span (``"rhinitis was:"`` -> ``"rhinitis"``)."""
    start, end = span.start, span.end
    doc = span.doc
    while start < end and (doc[start].is_punct or doc[start].lower_ in _EDGE_WORDS):
        start += 1
    while end > start and (
        (doc[end - 1].is_punct and not _closes_bracket(doc[start:end])) or doc[end - 1].lower_ in _EDGE_WORDS
    ):
        end -= 1
    if start == end:
        return None
    return Span(doc, start, end, label=span.label_)


def _closes_bracket(span: Span) -> bool:
    text = span.text
    return (text.endswith(")") and "(" in text) or (text.endswith("]") and "[" in text)


class MentionMerger:
    """Choose, per label, mentions from the rules, from the trained ``ner``, or both.

    Parameters
    ----------
    sources : dict of str to str
        For each of DOSE, SAMPLE_SIZE and CONDITION, ``"rules"``, ``"model"``
        or ``"both"``. :mod:`ldnscreen.extract.train` sets these to whichever
        scored best on the development split.

    Examples
    --------
    >>> import spacy
    >>> nlp = spacy.blank("en")
    >>> for name in ("ldnscreen_dose", "ldnscreen_sample_size", "ldnscreen_mentions"):
    ...     _ = nlp.add_pipe(name)
    >>> doc = nlp("Twelve patients took naltrexone 4.5 mg at bedtime.")
    >>> [(s.text, s.label_) for s in doc.spans["ldnscreen"]]
    [('Twelve', 'SAMPLE_SIZE'), ('4.5 mg at bedtime', 'DOSE')]
    """

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = dict(sources)

    def __call__(self, doc: Doc) -> Doc:
        groups = {"DOSE": DOSE_GROUP, "SAMPLE_SIZE": SAMPLE_SIZE_GROUP, "CONDITION": CONDITION_GROUP}
        mentions: list[Span] = []
        for label in LABELS:
            source = self.sources.get(label, "rules")
            found: list[Span] = []
            if source in ("rules", "both") and groups[label] in doc.spans:
                found += list(doc.spans[groups[label]])
            if source in ("model", "both"):
                found += [e for e in doc.ents if e.label_ == label]
            if label == "SAMPLE_SIZE":
                doses = list(doc.spans.get(DOSE_GROUP, []))
                found = [
                    s for s in found
                    if plausible_sample_size(s) and not any(d.start < s.end and s.start < d.end for d in doses)
                ]
            if label == "CONDITION" and ABBREVIATION_GROUP in doc.spans:
                long_forms = [s for s in found]
                for short in doc.spans[ABBREVIATION_GROUP]:
                    if any(short.label_ == c.text or short.label_ in c.text for c in long_forms):
                        found.append(Span(doc, short.start, short.end, label="CONDITION"))
            if label == "CONDITION":
                found = [t for t in (_trim(s) for s in found) if t is not None]
            mentions += [Span(doc, s.start, s.end, label=label) for s in filter_spans(found)]
        doc.spans[MENTION_GROUP] = sorted(mentions, key=lambda s: (s.start, s.end))
        return doc


# --------------------------------------------------------------------------- factories


@Language.factory("ldnscreen_dose", default_config={"qualitative": True})
def make_dose_finder(nlp: Language, name: str, qualitative: bool) -> DoseFinder:
    """Factory for :class:`DoseFinder`."""
    return DoseFinder(qualitative=qualitative)


@Language.factory("ldnscreen_sample_size")
def make_sample_size_finder(nlp: Language, name: str) -> SampleSizeFinder:
    """Factory for :class:`SampleSizeFinder`."""
    return SampleSizeFinder()


_DEFAULT_TERMS = [
    "complex regional pain syndrome", "CRPS", "CRPS type 1", "CRPS type I", "CRPS type 2", "CRPS-I", "CRPS-II",
    "reflex sympathetic dystrophy", "fibromyalgia", "fibromyalgia syndrome", "chronic pain", "neuropathic pain",
    "nociceptive pain", "myalgic encephalomyelitis/chronic fatigue syndrome", "myalgic encephalomyelitis",
    "chronic fatigue syndrome", "ME/CFS", "Gulf War Illness", "stiff-person syndrome", "stiff person syndrome",
    "multiple sclerosis", "Crohn's disease", "Crohn disease", "ulcerative colitis", "inflammatory bowel disease",
    "irritable bowel syndrome", "diabetic neuropathy", "postherpetic neuralgia", "trigeminal neuralgia",
    "low back pain", "osteoarthritis", "rheumatoid arthritis", "migraine", "cancer", "depression",
    "opioid use disorder", "alcohol use disorder", "alcohol dependence", "opioid dependence", "autism",
    "Hailey-Hailey disease", "lichen planopilaris", "pruritus", "psoriasis", "HIV", "AIDS",
]


@Language.factory("ldnscreen_condition_lexicon", default_config={"terms": _DEFAULT_TERMS})
def make_condition_lexicon(nlp: Language, name: str, terms: list[str]) -> ConditionLexicon:
    """Factory for :class:`ConditionLexicon`."""
    return ConditionLexicon(nlp.vocab, terms=terms)


@Language.factory("ldnscreen_abbreviations")
def make_abbreviation_finder(nlp: Language, name: str) -> AbbreviationFinder:
    """Factory for :class:`AbbreviationFinder`."""
    return AbbreviationFinder()


@Language.factory(
    "ldnscreen_mentions",
    default_config={"sources": {"DOSE": "rules", "SAMPLE_SIZE": "rules", "CONDITION": "rules"}},
)
def make_mention_merger(nlp: Language, name: str, sources: dict[str, str]) -> MentionMerger:
    """Factory for :class:`MentionMerger`."""
    return MentionMerger(sources=sources)

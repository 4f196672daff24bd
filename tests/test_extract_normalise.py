"""Number words, ranges, units, schedules and doses read by ldnscreen.extract.normalise."""

import pytest

from ldnscreen.extract.normalise import (
    DoseValue,
    normalise_frequency,
    normalise_unit,
    parse_dose,
    parse_number,
    parse_range,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ten", 10),
        ("Forty-five", 45),
        ("One hundred and fifty-five", 155),
        ("Four hundred ninety six", 496),
        ("Eight hundred and six", 806),
        ("twenty two", 22),
        ("three thousand nine hundred and ninety-three", 3993),
        ("3,993", 3993),
        ("267", 267),
        ("4.5", 4.5),
        ("a dozen", 12),
    ],
)
def test_parse_number(text, expected):
    value = parse_number(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("text", ["patients", "", "a", "ten patients", "twelve-fold-x"])
def test_parse_number_rejects_non_numbers(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.75 to 6", (0.75, 6)),
        ("3-250", (3, 250)),
        ("3–250 mg", (3, 250)),
        ("between 2 and 5", (2, 5)),
        ("from 1 mg to 4.5 mg", (1, 4.5)),
        ("two to four", (2, 4)),
    ],
)
def test_parse_range(text, expected):
    assert parse_range(text) == expected


def test_parse_range_rejects_single_numbers():
    assert parse_range("4.5 mg") is None


@pytest.mark.parametrize(
    "text, unit", [("mg", "mg"), ("micrograms", "µg"), ("mcg", "µg"), ("μg", "µg"), ("IU", "IU"), ("ml", "mL")]
)
def test_normalise_unit(text, unit):
    assert normalise_unit(text) == unit


@pytest.mark.parametrize(
    "text, frequency",
    [("/day", "daily"), ("/d", "daily"), ("daily", "daily"), ("b.i.d.", "twice daily"),
     ("twice daily", "twice daily"), ("at bedtime", "at bedtime"), ("at night", "at bedtime"),
     ("once weekly", "weekly"), ("t.i.d.", "three times daily")],
)
def test_normalise_frequency(text, frequency):
    assert normalise_frequency(text) == frequency


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4.5 mg/day", DoseValue(4.5, 4.5, "mg", "", "daily")),
        ("1.5 mg at bedtime", DoseValue(1.5, 1.5, "mg", "", "at bedtime")),
        ("0.75 to 6 mg", DoseValue(0.75, 6, "mg")),
        ("3-250 mg", DoseValue(3, 250, "mg")),
        ("1500 mg/m2", DoseValue(1500, 1500, "mg", "m2")),
        ("0.15 mg/kg", DoseValue(0.15, 0.15, "mg", "kg")),
        ("4.5-mg", DoseValue(4.5, 4.5, "mg")),
        ("titrated from 1 mg to 4.5 mg", DoseValue(1, 4.5, "mg")),
        ("1 mg/kg/day", DoseValue(1, 1, "mg", "kg", "daily")),
        ("100 mg/m2/d", DoseValue(100, 100, "mg", "m2", "daily")),
        ("10 mg bid", DoseValue(10, 10, "mg", "", "twice daily")),
        ("20 micrograms", DoseValue(20, 20, "µg")),
        ("high-dose", DoseValue(None, None, qualitative="high")),
        ("overdose", DoseValue(None, None, qualitative="overdose")),
    ],
)
def test_parse_dose(text, expected):
    assert parse_dose(text) == expected


def test_parse_dose_rejects_text_without_dose():
    assert parse_dose("the patients improved") is None


def test_dose_value_str():
    assert str(DoseValue(0.75, 6, "mg", "kg", "daily")) == "0.75-6 mg/kg daily"
    assert not DoseValue(4.5, 4.5, "mg").is_range

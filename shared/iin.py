"""Individual identification number (ИИН/ЖСН): check digit, birth date and sex, and masking.

Layout (rules.md, "Identity"): digits 1–6 birth date YYMMDD; digit 7 century and sex
(1/2 → 1800s, 3/4 → 1900s, 5/6 → 2000s; odd male, even female); 8–11 serial; 12 check digit.
The same check digit protects a BIN, so `has_valid_check_digit` is shared by both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_WEIGHTS_FIRST = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_WEIGHTS_SECOND = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)

# digit 7 → (first year of the century, sex)
_CENTURY_AND_SEX = {
    1: (1800, "male"), 2: (1800, "female"),
    3: (1900, "male"), 4: (1900, "female"),
    5: (2000, "male"), 6: (2000, "female"),
}


@dataclass(frozen=True, slots=True)
class IinFacts:
    birth_date: date
    sex: str  # "male" | "female"


def check_digit(first_eleven: str) -> int | None:
    """The 12th digit for these 11 digits, or None when no check digit exists (both passes give 10)."""
    digits = [ord(c) - 48 for c in first_eleven]
    remainder = sum(d * w for d, w in zip(digits, _WEIGHTS_FIRST)) % 11
    if remainder == 10:
        remainder = sum(d * w for d, w in zip(digits, _WEIGHTS_SECOND)) % 11
        if remainder == 10:
            return None
    return remainder


def has_valid_check_digit(number: str) -> bool:
    """12 ASCII digits whose last digit is the check digit of the first 11 (IIN or BIN)."""
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        return False
    expected = check_digit(number[:11])
    return expected is not None and expected == ord(number[11]) - 48


def parse_iin(iin: str) -> IinFacts | None:
    """Birth date and sex encoded in a valid IIN; None if the IIN is invalid in any way."""
    if not has_valid_check_digit(iin):
        return None
    century = _CENTURY_AND_SEX.get(ord(iin[6]) - 48)
    if century is None:
        return None
    first_year, sex = century
    try:
        birth = date(first_year + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError:
        return None
    return IinFacts(birth_date=birth, sex=sex)


def is_valid_iin(iin: str) -> bool:
    return parse_iin(iin) is not None


def compose_iin(birth_date: date, sex: str, serial: int) -> str | None:
    """The IIN for a birth date, sex and 4-digit serial, or None if that serial has no check digit.

    Used by the sandbox and tests to build valid synthetic people.
    """
    if not 1800 <= birth_date.year <= 2099 or not 0 <= serial <= 9999:
        raise ValueError("birth year must be 1800–2099 and serial 0–9999")
    century_index = (birth_date.year - 1800) // 100  # 0, 1, 2
    century_digit = century_index * 2 + (1 if sex == "male" else 2)
    first_eleven = f"{birth_date:%y%m%d}{century_digit}{serial:04d}"
    digit = check_digit(first_eleven)
    return None if digit is None else first_eleven + str(digit)


_IIN_RE = re.compile(r"(?<!\d)(\d{4})\d{6}(\d{2})(?!\d)")


def mask_iin(iin: str) -> str:
    """`791028302728` → `7910******28`: IINs are personal data, so logs and errors show this."""
    if len(iin) != 12:
        return "*" * len(iin)
    return f"{iin[:4]}******{iin[-2:]}"


def mask_iins_in(text: str) -> str:
    """Mask every 12-digit run in free text."""
    return _IIN_RE.sub(r"\1******\2", text)


def iin_problems(iin: str, birth_date: date | None = None, sex: str | None = None) -> list[str]:
    """Why `iin` is not acceptable for a person born on `birth_date` of `sex` (empty if it is)."""
    if len(iin) != 12 or not iin.isascii() or not iin.isdigit():
        return ["IIN must be 12 digits"]
    if not has_valid_check_digit(iin):
        return ["IIN check digit is wrong"]
    facts = parse_iin(iin)
    if facts is None:
        return ["IIN does not encode a valid birth date and century"]
    problems = []
    if birth_date is not None and birth_date != facts.birth_date:
        problems.append("birth date does not match the IIN")
    if sex is not None and sex != facts.sex:
        problems.append("sex does not match the IIN")
    return problems


def make_iin(birth_date: date, sex: str, serial: int) -> str:
    """A valid IIN for a synthetic person: the first serial from `serial` on that has a check digit."""
    for offset in range(10_000):
        iin = compose_iin(birth_date, sex, (serial + offset) % 10_000)
        if iin is not None:
            return iin
    raise ValueError("no serial has a check digit")  # pragma: no cover - cannot happen

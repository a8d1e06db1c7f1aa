"""Masking of IINs (personal data) wherever text leaves the process: logs and error messages."""

from __future__ import annotations

import re

_IIN_RE = re.compile(r"(?<!\d)(\d{4})\d{6}(\d{2})(?!\d)")


def mask_iin(iin: str) -> str:
    """`791028302728` → `7910******28`."""
    if len(iin) != 12:
        return "*" * len(iin)
    return f"{iin[:4]}******{iin[-2:]}"


def mask_iins_in(text: str) -> str:
    """Mask every 12-digit run in free text."""
    return _IIN_RE.sub(r"\1******\2", text)


_WEIGHTS_1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_WEIGHTS_2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}


def check_digit_ok(number: str) -> bool:
    """The IIN/BIN check digit: weights 1..11 mod 11; on 10, weights 3..11,1,2; 10 again is invalid."""
    if len(number) != 12 or not number.isdigit():
        return False
    digits = [int(c) for c in number]
    control = sum(d * w for d, w in zip(digits, _WEIGHTS_1)) % 11
    if control == 10:
        control = sum(d * w for d, w in zip(digits, _WEIGHTS_2)) % 11
        if control == 10:
            return False
    return control == digits[11]


def iin_birth_date_and_sex(iin: str):  # noqa: ANN201 - (date, "male"|"female") or None
    """Birth date and sex encoded in a valid IIN, or None when they cannot be read."""
    from datetime import date

    if not check_digit_ok(iin):
        return None
    century = _CENTURY.get(iin[6])
    if century is None:
        return None
    try:
        born = date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError:
        return None
    return born, ("male" if int(iin[6]) % 2 == 1 else "female")


def iin_problems(iin: str, birth_date=None, sex: str | None = None) -> list[str]:  # noqa: ANN001
    """Why `iin` is not acceptable for a person born on `birth_date` of `sex` (empty if it is)."""
    if len(iin) != 12 or not iin.isdigit():
        return ["IIN must be 12 digits"]
    if not check_digit_ok(iin):
        return ["IIN check digit is wrong"]
    parsed = iin_birth_date_and_sex(iin)
    if parsed is None:
        return ["IIN does not encode a valid birth date and century"]
    problems = []
    born, encoded_sex = parsed
    if birth_date is not None and birth_date != born:
        problems.append("birth date does not match the IIN")
    if sex is not None and sex != encoded_sex:
        problems.append("sex does not match the IIN")
    return problems


def make_iin(birth_date, sex: str, serial: int) -> str:  # noqa: ANN001
    """A valid IIN for a person (synthetic population, tests): tries serials from `serial` on
    until the check digit is computable."""
    century_digit = {1800: 1, 1900: 3, 2000: 5}[birth_date.year // 100 * 100] + (0 if sex == "male" else 1)
    stem = f"{birth_date:%y%m%d}{century_digit}"
    for s in range(serial, serial + 10_000):
        body = f"{stem}{s % 10_000:04d}"
        digits = [int(c) for c in body]
        control = sum(d * w for d, w in zip(digits, _WEIGHTS_1)) % 11
        if control == 10:
            control = sum(d * w for d, w in zip(digits, _WEIGHTS_2)) % 11
            if control == 10:
                continue
        return body + str(control)
    raise ValueError("no valid serial")

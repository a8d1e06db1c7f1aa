"""The income registry's extract CSV, read one way for the reassessment run and the simulation
(services/eligibility/reassessment/extract.py): exact to the tiyn, and all or nothing."""

from __future__ import annotations

import random

import pytest

from services.eligibility.reassessment import INCOME_TYPE_CODES
from services.eligibility.reassessment.extract import ExtractFailed, families_of, parse_extract

import numpy as np


def _body(rows: int, seed: int, *, crlf: bool = False) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    rng = random.Random(seed)
    lines, expected = ["iin,month,type,amount"], []
    for _ in range(rows):
        iin, year, month = rng.randrange(10**12), rng.choice((2026, 2027)), rng.randint(1, 12)
        kind, amount = rng.choice(list(INCOME_TYPE_CODES)), rng.randrange(-10**5, 10**15)
        sign = "-" if amount < 0 else ""
        lines.append(f"{iin:012d},{year:04d}-{month:02d},{kind},{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}")
        expected.append((iin, year * 12 + month - 1, INCOME_TYPE_CODES[kind], amount))
    end = "\r\n" if crlf else "\n"
    return (end.join(lines) + end).encode(), expected


def _columns(incomes) -> list[tuple[int, int, int, int]]:  # noqa: ANN001
    return list(zip(incomes.iin.tolist(), incomes.month.tolist(), incomes.type.tolist(), incomes.amount.tolist()))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_record_is_read_exactly(seed: int):
    body, expected = _body(20_000, seed)
    assert _columns(parse_extract(body)) == expected
    crlf, expected = _body(500, seed, crlf=True)
    assert _columns(parse_extract(crlf)) == expected


def test_what_the_contract_tolerates():
    assert len(parse_extract(b"").iin) == 0
    assert len(parse_extract(b"iin,month,type,amount\n").iin) == 0
    # no final newline; amounts with fewer decimals; no header
    body = b"iin,month,type,amount\n000101510198,2026-10,wage,7000\n000101510198,2026-11,tsa,0.5"
    assert _columns(parse_extract(body)) == [(101510198, 2026 * 12 + 9, INCOME_TYPE_CODES["wage"], 700000),
                                             (101510198, 2026 * 12 + 10, INCOME_TYPE_CODES["tsa"], 50)]
    assert _columns(parse_extract(b"870412300128,2026-12,pension,12.34\n")) == [
        (870412300128, 2026 * 12 + 11, INCOME_TYPE_CODES["pension"], 1234)]


@pytest.mark.parametrize(("line", "field"), [
    ("870412300128,2026-10,lottery,5.00", "line 2, type"),
    ("87041230012,2026-10,wage,5.00", "line 2, iin"),
    ("87041230012x,2026-10,wage,5.00", "line 2, iin"),
    ("870412300128,2026-13,wage,5.00", "line 2, month"),
    ("870412300128,2026/10,wage,5.00", "line 2, month"),
    ("870412300128,2026-10,wage,5.005", "line 2, amount"),
    ("870412300128,2026-10,wage,abc", "line 2, amount"),
    ("870412300128,2026-10,wage,", "line 2, amount"),
    ("870412300128,2026-10,wage", "four fields"),
    ("870412300128,2026-10,wage,5.00,1", "four fields"),
])
def test_a_line_off_the_contract_fails_the_whole_extract_naming_the_line_not_its_content(line: str, field: str):
    body = f"iin,month,type,amount\n900517401231,2026-10,wage,1.00\n{line}\n".encode()
    with pytest.raises(ExtractFailed, match=field) as failed:
        parse_extract(body)
    assert "870412300128" not in str(failed.value) and "900517401231" not in str(failed.value)


def test_each_income_finds_its_members_family():
    members = np.array([900517401231, 210302504566, 101510198], np.int64)
    family = np.array([0, 0, 1], np.int32)
    incomes = np.array([101510198, 555555555555, 900517401231, 101510198], np.int64)
    assert families_of(members, family, incomes).tolist() == [1, -1, 0, 1]
    assert families_of(members[:0], family[:0], incomes).tolist() == [-1, -1, -1, -1]

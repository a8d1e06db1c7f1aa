"""The simulation's reading of the income registry's extract CSV (issue 12): the column-wise
fast path and the line-by-line path give the same columns."""

from __future__ import annotations

import random

from services.eligibility.reassessment import INCOME_TYPE_CODES
from services.eligibility.simulation import _parse_lines, parse_extract


def _body(rows: int, seed: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    rng = random.Random(seed)
    lines, expected = ["iin,month,type,amount"], []
    for _ in range(rows):
        iin, year, month = rng.randrange(10**12), rng.choice((2026, 2027)), rng.randint(1, 12)
        kind, amount = rng.choice(list(INCOME_TYPE_CODES)), rng.randrange(10**12)
        lines.append(f"{iin:012d},{year:04d}-{month:02d},{kind},{amount // 100}.{amount % 100:02d}")
        expected.append((iin, year * 12 + month - 1, INCOME_TYPE_CODES[kind], amount))
    lines.append("870412300128,2026-10,not_a_type,5.00")  # unknown types are skipped
    return ("\n".join(lines) + "\n").encode(), expected


def _columns(rows) -> list[tuple[int, int, int, int]]:  # noqa: ANN001
    return list(zip(rows.iin.tolist(), rows.month.tolist(), rows.type.tolist(), rows.amount.tolist()))


def test_both_paths_read_the_same_columns():
    body, expected = _body(5000, 1)
    assert _columns(parse_extract(body)) == expected
    assert _columns(_parse_lines(body)) == expected


def test_the_header_alone_and_odd_bodies():
    assert len(parse_extract(b"iin,month,type,amount\n").iin) == 0
    assert len(parse_extract(b"").iin) == 0
    # a body that is not four fields a line goes line by line
    odd = b"iin,month,type,amount\n870412300128,2026-10,wage,100.50\n870412300128,2026-11,wage\n"
    assert _columns(parse_extract(odd)) == [(870412300128, 2026 * 12 + 9, INCOME_TYPE_CODES["wage"], 10050)]


def test_a_field_that_is_not_a_number_is_skipped_with_its_line():
    body = b"iin,month,type,amount\n870412300128,2026-10,wage,abc\n870412300128,2026-11,wage,7.00\n"
    assert _columns(parse_extract(body)) == [(870412300128, 2026 * 12 + 10, INCOME_TYPE_CODES["wage"], 700)]

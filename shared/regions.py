"""Reference data: Kazakhstan's regions by the first two digits of the KATO code, and the KATO
classifier entries Qamqor accepts at its door.

- `is_known_region`: the code's structure names a region (9 digits, a region prefix). The rules
  engine uses it: a parameter or a case may be set for any unit of a region.
- `is_registered_kato`: the code is in the shipped classifier table (`reference/kato.csv`) — what
  an application, a statistics filter or an administrator's parameter must name. The table ships
  the 17 regions and the 3 cities of republican significance; the full classifier of the Bureau
  of National Statistics replaces the file to admit districts and settlements.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

REGIONS: dict[str, str] = {
    "10": "Abai", "11": "Akmola", "15": "Aktobe", "19": "Almaty region", "23": "Atyrau",
    "27": "West Kazakhstan", "31": "Zhambyl", "33": "Zhetysu", "35": "Karaganda", "39": "Kostanay",
    "43": "Kyzylorda", "47": "Mangystau", "55": "Pavlodar", "59": "North Kazakhstan",
    "61": "Turkestan", "62": "Ulytau", "63": "East Kazakhstan", "71": "Astana", "75": "Almaty city",
    "79": "Shymkent",
}


def is_known_region(kato: object) -> bool:
    """A 9-digit KATO code whose first two digits name one of the regions."""
    return (isinstance(kato, str) and len(kato) == 9 and kato.isascii() and kato.isdigit()
            and kato[:2] in REGIONS)


def region_name(kato: str) -> str | None:
    return REGIONS[kato[:2]] if is_known_region(kato) else None


def region_level_kato(kato: str) -> str:
    """`611010000` (a district of Turkestan region) → `610000000` (the region)."""
    return kato[:2] + "0000000"


@dataclass(frozen=True, slots=True)
class KatoEntry:
    kato: str
    level: str  # region | city | district | settlement
    name_kk: str
    name_ru: str
    name_en: str


def _load_classifier(path: Path = Path(__file__).parent / "reference" / "kato.csv") -> dict[str, KatoEntry]:
    with path.open(encoding="utf-8", newline="") as handle:
        entries = {row["kato"]: KatoEntry(**row) for row in csv.DictReader(handle)}
    unknown = sorted(code for code in entries if not is_known_region(code))
    if unknown:
        raise ValueError(f"{path.name}: codes outside every region: {unknown}")
    return entries


KATO: dict[str, KatoEntry] = _load_classifier()


def is_registered_kato(kato: object) -> bool:
    """A code of the shipped KATO classifier (not merely one that starts with a region prefix)."""
    return isinstance(kato, str) and kato in KATO

"""Reference data: Kazakhstan's regions by the first two digits of the KATO code.

`is_known_region` is the one check every service uses for a region code (intake at the door,
eligibility for parameters and cases)."""

from __future__ import annotations

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

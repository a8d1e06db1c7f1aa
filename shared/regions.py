"""Reference data: Kazakhstan's regions by the first two digits of the KATO code."""

from __future__ import annotations

REGIONS: dict[str, str] = {
    "10": "Abai", "11": "Akmola", "15": "Aktobe", "19": "Almaty region", "23": "Atyrau",
    "27": "West Kazakhstan", "31": "Zhambyl", "33": "Zhetysu", "35": "Karaganda", "39": "Kostanay",
    "43": "Kyzylorda", "47": "Mangystau", "55": "Pavlodar", "59": "North Kazakhstan",
    "61": "Turkestan", "62": "Ulytau", "63": "East Kazakhstan", "71": "Astana", "75": "Almaty city",
    "79": "Shymkent",
}


def region_name(kato: str) -> str | None:
    if len(kato) != 9 or not kato.isdigit():
        return None
    return REGIONS.get(kato[:2])

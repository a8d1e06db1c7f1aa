"""The participating banks intake's migration seeds are the national bank registry's (schwifty
ships it): each BIC with the registry's bank code and name, and no institution where a citizen
holds no account."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import schwifty

import services.intake

MIGRATION = Path(services.intake.__file__).parent / "migrations" / "versions" / "0002_intake_reference_data.py"
REQUIRED = {"HSBKKZKX": "601", "KCJBKZKX": "856", "CASPKZKA": "722", "IRTYKZKA": "965", "CITIKZKA": "832",
            "KPSTKZKA": "563", "TSESKZKA": "998", "EURIKZKA": "948", "INLMKZKA": "886", "ALFAKZKA": "947"}


def _seeded() -> tuple[tuple[str, str, str], ...]:
    spec = importlib.util.spec_from_file_location("intake_reference_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.PARTICIPATING_BANKS


def _registry() -> dict[str, dict]:
    path = Path(schwifty.__file__).parent / "bank_registry" / "generated_kz.json"
    return {entry["bic"]: entry for entry in json.loads(path.read_text(encoding="utf-8"))}


def test_every_seeded_bank_is_the_registrys():
    registry = _registry()
    for bic, code, name in _seeded():
        assert (registry[bic]["bank_code"], registry[bic]["name"]) == (code, name), bic


def test_the_banks_that_pay_social_benefits_are_seeded_and_no_state_institution():
    seeded = {bic: code for bic, code, _ in _seeded()}
    assert REQUIRED.items() <= seeded.items()
    assert not {"125", "070", "009", "224"} & set(seeded.values())  # National Bank, treasury, pension centre, KCIS
    assert len(set(seeded.values())) == len(seeded)  # a code names one bank

"""The consent code pepper: a development default, refused in production; the loops never poll
faster than once a second."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.settings import DEVELOPMENT_PEPPER, IntakeSettings

PRODUCTION = {"environment": "production", "internal_public_key_file": "/etc/qamqor/internal_public.pem"}


def test_development_has_a_default_pepper():
    assert IntakeSettings(environment="development").code_pepper() == DEVELOPMENT_PEPPER.encode()


def test_production_refuses_the_default_pepper_and_a_short_one():
    with pytest.raises(ValidationError, match="consent_code_pepper must be set in production"):
        IntakeSettings(**PRODUCTION)
    with pytest.raises(ValidationError, match="at least 16 characters"):
        IntakeSettings(**PRODUCTION, consent_code_pepper="short")
    settings = IntakeSettings(**PRODUCTION, consent_code_pepper="p" * 32)
    assert settings.code_pepper() == b"p" * 32
    assert "p" * 32 not in repr(settings)  # a secret, never printed


@pytest.mark.parametrize("name", ["sms_poll_interval_seconds", "consent_expiry_interval_seconds",
                                  "sms_retry_max_seconds"])
def test_the_loops_sleep_at_least_a_second(name):
    with pytest.raises(ValidationError):
        IntakeSettings(**{name: 0.1})
    assert getattr(IntakeSettings(**{name: 1.0}), name) == 1.0

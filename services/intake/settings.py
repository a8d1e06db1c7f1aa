from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


DEVELOPMENT_PEPPER = "development-only-consent-code-pepper"


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QAMQOR_INTAKE_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/qamqor_intake"

    # The reconciliation sweep (services/intake/reconciliation.py, docs/operations.md): how long
    # an application may stay in a status before the services owning its next step are asked to
    # re-drive it (statuses not listed are not swept), how often the sweep runs, and how many
    # re-drives of one status are made (the n-th after the limit × 2^(n-1)).
    reconciliation_sla_seconds: dict[str, float] = {
        "submitted": 600.0, "verified": 300.0, "approved": 600.0, "contract_signed": 600.0}
    reconciliation_interval_seconds: float = Field(default=60.0, gt=0)
    reconciliation_max_attempts: int = Field(default=5, ge=1)

    # How often the period-end sweep ends assigned applications whose assignment period is over
    # (services/intake/periods.py); the check at the door ends a member's at once in any case.
    period_end_interval_seconds: float = Field(default=3600.0, ge=1.0)

    # Consent to the expense check (docs/consent.md): the SMS gateway the SMS from 1414 is handed
    # to (the sandbox plays it), how long one send may take, how often the dispatcher looks for
    # requests whose SMS is not sent yet and the sweep for requests past their deadline (both
    # read the database only, so a restart loses nothing), and the pepper the one-time codes are
    # hashed with (HMAC-SHA256): the default is for development and tests and refused in production.
    sms_gateway_url: str = "http://127.0.0.1:8100"
    sms_sender: str = Field(default="1414", min_length=1, max_length=11)
    sms_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    sms_poll_interval_seconds: float = Field(default=2.0, ge=1.0)
    sms_retry_max_seconds: float = Field(default=60.0, ge=1.0)
    consent_expiry_interval_seconds: float = Field(default=30.0, ge=1.0)
    consent_code_pepper: SecretStr = SecretStr(DEVELOPMENT_PEPPER)

    # FDC invitations (docs/fdc.md): the pre-check reads the income registry (the sandbox plays it)
    # and asks eligibility's estimate (the rules and their parameters live there) on behalf of the
    # FDC caller; `invitation_window_days`: how long after the invitation an application by an
    # invited person counts as its conversion (an intake setting, fixed on each invitation when
    # it is made); the SMS goes from `fdc_sms_sender` with `invitation_link`.
    eligibility_url: str = "http://127.0.0.1:8003"
    income_registry_url: str = "http://127.0.0.1:8100"
    fdc_precheck_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    fdc_precheck_concurrency: int = Field(default=8, ge=1, le=64)
    invitation_window_days: int = Field(default=90, ge=1, le=366)
    invitation_link: str = Field(default="https://egov.kz/cms/ru/services/social_assistance/tsa", min_length=8,
                                 max_length=120)
    fdc_sms_sender: str = Field(default="1414", min_length=1, max_length=11)

    @model_validator(mode="after")
    def _refuse_development_pepper(self) -> "IntakeSettings":
        if self.environment == "production" and self.consent_code_pepper.get_secret_value() in ("", DEVELOPMENT_PEPPER):
            raise ValueError("consent_code_pepper must be set in production (QAMQOR_INTAKE_CONSENT_CODE_PEPPER)")
        if len(self.consent_code_pepper.get_secret_value()) < 16:
            raise ValueError("consent_code_pepper must be at least 16 characters")
        return self

    def code_pepper(self) -> bytes:
        return self.consent_code_pepper.get_secret_value().encode()

    @field_validator("reconciliation_sla_seconds")
    @classmethod
    def _swept_statuses_only(cls, sla: dict[str, float]) -> dict[str, float]:
        from services.intake.reconciliation import SWEPT_STATUSES

        unknown = sorted(set(sla) - SWEPT_STATUSES)
        if unknown:
            raise ValueError(f"the sweep re-drives only {sorted(SWEPT_STATUSES)}; not {unknown}")
        if any(seconds <= 0 for seconds in sla.values()):
            raise ValueError("every time limit must be positive")
        return sla

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


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

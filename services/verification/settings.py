from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QAMQOR_VERIFICATION_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/qamqor_verification"
    income_registry_url: str = "http://127.0.0.1:8100"
    # Issue 10: the accounts registry, the two asset registries and the banks' Open API (all
    # played by the sandbox locally). `banks_url` + `/banks/{bank_code}/openapi/v1/...`; the
    # banks answer at `bank_callback_url` (the gateway's route) with the bank code filled in.
    accounts_registry_url: str = "http://127.0.0.1:8100"
    real_estate_registry_url: str = "http://127.0.0.1:8100"
    vehicle_registry_url: str = "http://127.0.0.1:8100"
    banks_url: str = "http://127.0.0.1:8100"
    bank_callback_url: str = "http://127.0.0.1:8000/v1/banks/{bank_code}/cashflow"
    registry_timeout_seconds: float = 5.0
    # A bank asked for a family's aggregates answers within this many business days (Asia/Almaty,
    # Kazakhstan's public holidays), or the application is announced overdue (verification.overdue)
    # and keeps waiting: it is never decided on missing data.
    bank_deadline_business_days: int = Field(default=2, ge=1, le=30)
    # The bank request dispatcher looks for requests written by another process at least this often
    # (those of its own process it sends as soon as they are committed).
    bank_poll_seconds: float = Field(default=5.0, gt=0)
    # The overdue sweep looks at least this often.
    overdue_poll_seconds: float = Field(default=60.0, gt=0)
    # An external system that is down is waited out (docs/operations.md): an application is tried
    # again after the first delay, then after twice as long each time (jittered, at most the
    # maximum), and given up on — a dead letter an operator can replay — once it has waited
    # give_up_after.
    outage_first_retry_seconds: float = Field(default=5.0, gt=0)
    outage_max_retry_seconds: float = Field(default=300.0, gt=0)
    outage_give_up_after_seconds: float = Field(default=6 * 3600.0, gt=0)
    # The retry loop reads the waiting applications at least this often (another process may
    # have parked some).
    outage_poll_seconds: float = Field(default=30.0, gt=0)

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ContractsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QAMQOR_CONTRACTS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/qamqor_contracts"
    # The applicant signs within this many business days after drafting (Asia/Almaty, Kazakhstan's
    # public holidays): the policy parameter `contract_sign_business_days` (eligibility owns it,
    # contracts keeps a replica). This setting applies only on a day the replica has no value for
    # (a warning is logged). The deadline is fixed on the contract when it is drafted, so a new
    # value moves no existing deadline.
    sign_business_days: int = Field(default=10, ge=1, le=60)
    # How often the sweep lapses unsigned contracts past their deadline and completes the signed
    # ones past their period.
    sweep_interval_seconds: float = 60.0

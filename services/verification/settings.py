from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QAMQOR_VERIFICATION_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/qamqor_verification"
    income_registry_url: str = "http://127.0.0.1:8100"
    registry_timeout_seconds: float = 5.0

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class EligibilitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QAMQOR_ELIGIBILITY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/qamqor_eligibility"
    # Issue 12: the income registry's bulk extract (played by the sandbox locally) and the
    # reassessment run's chunk (families per transaction).
    income_registry_url: str = "http://127.0.0.1:8100"
    registry_timeout_seconds: float = 300.0
    reassessment_chunk_size: int = 50_000
    # How often the process looks for a run to resume (one started elsewhere, or stopped by a crash).
    reassessment_poll_seconds: float = 30.0
    # The coming quarter's register read ahead for simulations (issue 12): off in tests that
    # count the registry's requests; how often the register is checked for a change.
    simulation_read_ahead: bool = True
    simulation_check_seconds: float = 120.0

"""Gateway configuration (`QAMQOR_GATEWAY_*`). Outside development and test it refuses to start
with a default that would be insecure: missing keys, long token lifetimes, no master key."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

MAX_TOKEN_LIFETIME_SECONDS = 900  # issue 3: access tokens live at most 15 minutes


class RateLimit(BaseModel):
    """A token bucket: `rate` requests per second on average, bursts of up to `burst`."""

    rate: float = Field(gt=0)
    burst: int = Field(gt=0)


# Per gateway instance. Sized for the callers' real traffic, not for a load test: the portal
# fronts every citizen, the others are back-office systems and dashboards.
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    "portal": RateLimit(rate=100, burst=200),
    "fdc": RateLimit(rate=50, burst=100),
    "bank": RateLimit(rate=20, burst=40),
    "sms_gateway": RateLimit(rate=20, burst=40),
    "ops": RateLimit(rate=10, burst=20),
    "case_worker": RateLimit(rate=10, burst=20),
    "admin": RateLimit(rate=10, burst=20),
}


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QAMQOR_GATEWAY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/qamqor_gateway"

    # Where each service listens. The route table names the service; this maps it to a URL.
    intake_url: str = "http://127.0.0.1:8001"
    verification_url: str = "http://127.0.0.1:8002"
    eligibility_url: str = "http://127.0.0.1:8003"
    contracts_url: str = "http://127.0.0.1:8004"
    payments_url: str = "http://127.0.0.1:8005"
    reporting_url: str = "http://127.0.0.1:8006"

    # Ed25519 private key (PEM) for internal tokens; services hold the public half.
    internal_private_key_file: Path | None = None
    # 32-byte key (base64 in a file) that seals JWT private keys and bank signing secrets at rest
    # in the gateway database. Required in production; in development and test, when unset, a
    # random key is kept in the gateway database itself (shared by every process using it).
    master_key_file: Path | None = None
    # Development and test: where the internal key pair is created when none is configured.
    key_dir: Path = Path(".qamqor/keys")

    token_issuer: str = "https://qamqor.gov.kz/gateway"
    token_audience: str = "qamqor-api"
    token_lifetime_seconds: int = Field(default=600, gt=0, le=MAX_TOKEN_LIFETIME_SECONDS)
    token_leeway_seconds: int = Field(default=5, ge=0, le=60)
    # A minted internal token is reused for this long per caller (saves an Ed25519 signature
    # per request); the request id travels in `x-request-id`.
    internal_token_ttl_seconds: int = Field(default=60, ge=10, le=300)
    internal_token_reuse_seconds: float = Field(default=10.0, ge=0, le=30)

    # The national identity provider (eGov IDP) whose assertions a portal exchanges for a token
    # acting for the citizen (RFC 8693). Without a JWKS URL the token exchange is refused.
    idp_jwks_url: str | None = None
    idp_issuer: str = "https://idp.egov.kz"
    idp_audience: str = "qamqor"
    # A token acting for a citizen lives this long, and never longer than the assertion it came from.
    citizen_token_lifetime_seconds: int = Field(default=300, gt=0, le=MAX_TOKEN_LIFETIME_SECONDS)
    # The IDP's keys are fetched again after this long, or sooner when an assertion names an unknown
    # key — but not more often than every `idp_jwks_min_refetch_seconds` (forged kids cost nothing).
    idp_jwks_max_age_seconds: float = Field(default=3600.0, gt=0)
    idp_jwks_min_refetch_seconds: float = Field(default=30.0, ge=0)

    # Argon2id parameters for client secrets (RFC 9106 "second recommended option" by default).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    signature_window_seconds: int = 300
    rate_limits: dict[str, RateLimit] = Field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    # Token endpoint, per client id: secret checks are deliberately slow, so guess them slowly.
    token_rate_limit: RateLimit = RateLimit(rate=10, burst=60)
    max_body_bytes: int = 1_048_576

    # Forwarding: connecting to a service; waiting for its answer once the request is sent; and
    # waiting for a pooled connection plus connecting. (No write timeout: aiohttp has none, and a
    # body of at most max_body_bytes fits in the socket buffers of a service that stops reading,
    # so the read timeout catches that service too.)
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 30.0
    pool_timeout_seconds: float = 5.0
    upstream_max_connections: int = 200
    upstream_connect_retries: int = 2

    # The ops dashboard (/dashboard, docs/dashboard.md): who may sign in, how long a sign-in lasts
    # (its token is renewed while the page is open, never past this), how often the page refreshes,
    # sign-in attempts per client address (on top of the token endpoint's bucket per client id),
    # other origins the page is served under (a TLS-terminating proxy's), and the cookie's Secure
    # flag (None: over https and in production).
    dashboard_caller_kinds: list[str] = Field(default_factory=lambda: ["ops", "admin"])
    dashboard_session_seconds: int = Field(default=8 * 3600, gt=0, le=24 * 3600)
    dashboard_refresh_seconds: int = Field(default=30, ge=5, le=3600)
    dashboard_sign_in_rate_limit: RateLimit = RateLimit(rate=0.5, burst=30)
    dashboard_origins: list[str] = Field(default_factory=list)
    dashboard_secure_cookie: bool | None = None

    caller_refresh_seconds: float = 5.0
    audit_flush_seconds: float = 0.25
    audit_batch_size: int = 1000
    audit_buffer_limit: int = 100_000
    openapi_cache_seconds: float = 60.0

    @model_validator(mode="after")
    def _refuse_insecure_gateway_defaults(self) -> "GatewaySettings":
        if self.environment == "production":
            missing = [name for name in ("internal_private_key_file", "master_key_file") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"{', '.join(missing)} must be set in production")
            if self.token_lifetime_seconds > 600:
                raise ValueError("token_lifetime_seconds above 600 is not allowed in production")
            if any(not url.startswith("https://") for url in (self.token_issuer,)):
                raise ValueError("token_issuer must be an https URL in production")
            if self.idp_jwks_url is not None and not self.idp_jwks_url.startswith("https://"):
                raise ValueError("idp_jwks_url must be an https URL in production")
            if self.argon2_memory_kib < 19456 or self.argon2_time_cost < 2:
                raise ValueError("argon2 parameters below the OWASP minimum (19 MiB, t=2) in production")
        return self

    def service_urls(self) -> dict[str, str]:
        return {
            "intake": self.intake_url,
            "verification": self.verification_url,
            "eligibility": self.eligibility_url,
            "contracts": self.contracts_url,
            "payments": self.payments_url,
            "reporting": self.reporting_url,
        }

    def rate_limit_for(self, kind: str) -> RateLimit:
        return self.rate_limits.get(kind) or DEFAULT_RATE_LIMITS.get(kind) or RateLimit(rate=10, burst=20)

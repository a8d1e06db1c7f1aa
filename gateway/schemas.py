"""Requests and responses of the gateway's own API: the token endpoint, callers and the two
audit records. Request bodies are `InputModel`s (unknown fields refused, no control characters)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.inputs import InputModel

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
CLIENT_CREDENTIALS_GRANT = "client_credentials"


class FieldProblem(BaseModel):
    field: str = Field(examples=["members[0].iin"])
    message: str = Field(examples=["IIN check digit is wrong"])


class Problem(BaseModel):
    """RFC 9457 problem details: every error the API answers, whoever answers it."""

    type: str = Field(examples=["https://qamqor.gov.kz/problems/validation-error"])
    title: str = Field(examples=["Invalid input"])
    status: int = Field(examples=[422])
    detail: str | None = Field(default=None, examples=["The request has 1 invalid field(s)."])
    instance: str | None = Field(default=None, examples=["/v1/applications"])
    errors: list[FieldProblem] = Field(default_factory=list)


class OAuthProblem(Problem):
    """A refused token request: a problem with the RFC 6749 §5.2 members."""

    error: str = Field(examples=["invalid_grant"], description="invalid_request, invalid_client, invalid_grant, "
                       "unauthorized_client, unsupported_grant_type, invalid_scope or temporarily_unavailable")
    error_description: str = Field(examples=["The subject_token has expired."])


TOKEN_EXAMPLE = "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl"


class TokenResponse(BaseModel):
    access_token: str = Field(examples=[TOKEN_EXAMPLE])
    token_type: str = Field(default="Bearer", examples=["Bearer"])
    expires_in: int = Field(examples=[600])
    scope: str = Field(examples=["applications:read applications:write contracts:read"])
    issued_token_type: str | None = Field(
        default=None, examples=[ACCESS_TOKEN_TYPE], description="token exchange (RFC 8693) only")


# ---- callers ------------------------------------------------------------------------------


class CallerIn(InputModel):
    id: str = Field(max_length=64, examples=["case-worker-turkestan"])
    kind: str = Field(max_length=20, examples=["case_worker"],
                      description="portal, fdc, bank, sms_gateway, ops, case_worker or admin")
    scopes: list[str] | None = Field(default=None, max_length=20, description="defaults to the kind's scopes")
    bank_code: str | None = Field(default=None, max_length=11, description="banks only: the bank's BIC",
                                  examples=[None])
    regions: list[str] | None = Field(default=None, max_length=20, examples=[["61", "79"]],
                                      description="case workers only: two-digit KATO region prefixes they serve")


class RegionsIn(InputModel):
    regions: list[str] = Field(max_length=20, examples=[["61", "79"]],
                               description="two-digit KATO region prefixes; replaces the caller's regions")


class CallerOut(BaseModel):
    id: str = Field(examples=["case-worker-turkestan"])
    kind: str = Field(examples=["case_worker"])
    scopes: list[str] = Field(examples=[["applications:read", "contracts:read"]])
    enabled: bool = Field(examples=[True])
    bank_code: str | None = None
    regions: list[str] = Field(default_factory=list, examples=[["61", "79"]])
    credential_version: int = Field(examples=[1])
    created_at: str | None = Field(default=None, examples=["2026-11-23T09:00:00+00:00"])
    disabled_at: str | None = None


class CallerCredentials(CallerOut):
    secret: str = Field(description="shown once", examples=["q3J6...kM"])
    signing_secret: str | None = Field(default=None, description="banks only; shown once")


class CallerList(BaseModel):
    items: list[CallerOut]


# ---- audit --------------------------------------------------------------------------------


class AuditRecordOut(BaseModel):
    id: int = Field(examples=[1042])
    at: datetime
    caller_id: str | None = Field(examples=["demo-portal"])
    caller_kind: str | None = Field(examples=["portal"])
    acting_for: str | None = Field(default=None, examples=["5502******17"],
                                   description="the citizen a portal acted for, masked")
    method: str = Field(examples=["GET"])
    route: str = Field(examples=["/v1/applications/{application_id}"])
    path: str = Field(examples=["/v1/applications/0190a1b2-c3d4-7e5f-8a9b-000000000001"])
    service: str | None = Field(examples=["intake"])
    status: int = Field(examples=[200])
    latency_ms: float = Field(examples=[3.2])
    request_id: str
    client_ip: str | None


class AuditPage(BaseModel):
    items: list[AuditRecordOut]
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page")


class DataAccessRecordOut(BaseModel):
    id: int = Field(examples=[77])
    at: datetime
    caller_id: str = Field(examples=["demo-case-worker"])
    caller_kind: str = Field(examples=["case_worker"])
    acting_for: str | None = Field(default=None, examples=[None], description="the citizen a portal acted for, masked")
    method: str = Field(examples=["GET"])
    route: str = Field(examples=["/v1/applications/{application_id}"])
    status: int = Field(examples=[200])
    request_id: str
    purpose: str = Field(examples=["case management in the assigned regions"])
    stated_purpose: str | None = Field(default=None, examples=["home visit planned for 2026-12-01"],
                                       description="the caller's X-Qamqor-Purpose header, if sent")
    subject: str = Field(examples=["5502******17"], description="whose data: the IIN, masked")


class DataAccessPage(BaseModel):
    items: list[DataAccessRecordOut]
    next_before_id: int | None = Field(description="pass as before_id for the next (older) page")

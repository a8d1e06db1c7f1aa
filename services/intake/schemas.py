from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain import ApplicationForm, Member
from shared.events.contracts import Relation, Settlement, Sex


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class BankAccountIn(_In):
    iban: str = Field(pattern=r"^KZ\d{2}[0-9A-Z]{16}$", description="Kazakh IBAN, 20 characters")
    bank_code: str = Field(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$", description="BIC of the bank")


class MemberIn(_In):
    iin: str = Field(pattern=r"^\d{12}$")
    full_name: str = Field(min_length=1, max_length=200)
    birth_date: date
    sex: Sex
    relation: Relation
    phone: str | None = Field(default=None, pattern=r"^\+7\d{10}$")
    employed: bool = False
    full_time_student: bool = False
    disability_group: Literal[1, 2, 3] | None = None
    carer: bool = False


class ApplicationIn(_In):
    channel: Literal["egov", "fdc", "office"]
    region_kato: str = Field(pattern=r"^\d{9}$")
    settlement: Settlement
    bank_account: BankAccountIn
    expense_check_consent: bool = False
    extension: bool = False
    members: list[MemberIn] = Field(min_length=1, max_length=30)

    def to_form(self) -> ApplicationForm:
        return ApplicationForm(
            channel=self.channel, region_kato=self.region_kato, settlement=self.settlement,
            bank_iban=self.bank_account.iban, bank_code=self.bank_account.bank_code,
            expense_check_consent=self.expense_check_consent, extension=self.extension,
            members=tuple(Member(**m.model_dump()) for m in self.members),
        )


class MemberOut(_Out):
    iin: str
    full_name: str
    birth_date: date
    sex: str
    relation: str
    employed: bool
    full_time_student: bool
    disability_group: int | None
    carer: bool


class StatusChangeOut(_Out):
    status: str
    at: datetime
    detail: dict[str, Any] | None = None


class ApplicationOut(_Out):
    id: UUID
    status: str
    channel: str
    region_kato: str
    settlement: str
    application_date: date
    extension: bool
    expense_check_consent: bool
    submitted_at: datetime
    members: list[MemberOut]
    timeline: list[StatusChangeOut]
    decision: dict[str, Any] | None
    contract_id: UUID | None

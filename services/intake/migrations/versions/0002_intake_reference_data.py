"""Reference data intake checks at the door: the banks that pay social benefits, and a replica
of the policy parameters intake applies itself (eligibility owns them).

The banks are the second-tier banks and Kazpost that pay social benefits, as the national bank
registry (shipped by schwifty, `bank_registry/generated_kz.json`) names them: BIC, the 3-digit
code an IBAN carries and the name, verbatim (tests/unit/intake/test_reference_data.py holds them
to the registry). Not the National Bank (125), the treasury (070) or the pension payment centre
(009): no citizen's account is there. An administrator adds, renames and deactivates banks with
PUT /v1/reference/banks/{bic}.

The parameter replica starts with the value shipped with eligibility: adult_age 18 from
2024-01-01, recorded 2023-12-01.

Revision ID: 0002_intake_reference_data
Revises: 0001
"""
import uuid
from datetime import date, datetime, timezone

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_intake_reference_data"
down_revision = "0001"
branch_labels = None
depends_on = None

PARTICIPATING_BANKS = (
    ("HSBKKZKX", "601", 'АО "Народный Банк Казахстана"'),
    ("KCJBKZKX", "856", 'АО "Банк ЦентрКредит"'),
    ("CASPKZKA", "722", 'АО "KASPI BANK"'),
    ("IRTYKZKA", "965", 'АО "ForteBank"'),
    ("CITIKZKA", "832", 'АО "Ситибанк Казахстан"'),
    ("KPSTKZKA", "563", 'АО "КАЗПОЧТА"'),
    ("TSESKZKA", "998", 'АО "Цеснабанк"'),
    ("EURIKZKA", "948", 'АО "Евразийский Банк"'),
    ("INLMKZKA", "886", 'АО "Хоум Кредит Банк"'),
    ("ALFAKZKA", "947", 'АО "ДОЧЕРНИЙ БАНК "АЛЬФА'),
    ("NURSKZKX", "849", 'АО "Нурбанк"'),
    ("SHBKKZKA", "435", 'АО "Шинхан Банк Казахстан"'),
)

# A fixed id: the seeded value is one record, whichever database it is seeded into.
SHIPPED_ADULT_AGE_ID = uuid.UUID("0190a1b2-0000-7000-8000-00000000a018")
SHIPPED_AT = datetime(2023, 12, 1, tzinfo=timezone.utc)


def upgrade() -> None:
    banks = op.create_table(
        "participating_banks",
        sa.Column("bic", sa.String(length=8), nullable=False),
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("bic"),
    )
    op.create_index("uq_participating_bank_active_code", "participating_banks", ["code"], unique=True,
                    postgresql_where=sa.text("active"))
    replica = op.create_table(
        "parameter_replica",
        sa.Column("parameter_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("region_kato", sa.String(length=9), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("parameter_id"),
    )
    op.create_index(op.f("ix_parameter_replica_name"), "parameter_replica", ["name"], unique=False)
    op.bulk_insert(banks, [{"bic": bic, "code": code, "name": name, "active": True, "updated_at": SHIPPED_AT,
                            "updated_by": "release"} for bic, code, name in PARTICIPATING_BANKS])
    op.bulk_insert(replica, [{"parameter_id": SHIPPED_ADULT_AGE_ID, "name": "adult_age", "region_kato": None,
                              "valid_from": date(2024, 1, 1), "valid_to": None, "value": "18",
                              "recorded_at": SHIPPED_AT}])


def downgrade() -> None:
    op.drop_index(op.f("ix_parameter_replica_name"), table_name="parameter_replica")
    op.drop_table("parameter_replica")
    op.drop_index("uq_participating_bank_active_code", table_name="participating_banks",
                  postgresql_where=sa.text("active"))
    op.drop_table("participating_banks")

"""The deadline to sign a social contract becomes a policy parameter, `contract_sign_business_days`
(issue 11; shipped in `parameters/contract_parameters.csv`: 10 business days). Contracts keeps a
replica of it from `parameter.recorded`, seeded with the same shipped value.

Revision ID: 0006
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.eligibility.domain.parameters import SHIPPED_PARAMETERS_DIR, read_parameter_csv, value_to_json
from shared.ids import uuid7

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SHIPPED_HERE = "contract_parameters.csv"
NAMES = ("contract_sign_business_days",)

_TABLE = sa.table(
    "parameters",
    sa.column("id", sa.Uuid), sa.column("name", sa.String), sa.column("region_kato", sa.String),
    sa.column("valid_from", sa.Date), sa.column("valid_to", sa.Date), sa.column("value", JSONB),
    sa.column("recorded_at", sa.DateTime(timezone=True)), sa.column("recorded_by", sa.String),
)


def upgrade() -> None:
    op.bulk_insert(_TABLE, [
        {"id": uuid7(), "name": v.name, "region_kato": v.region_kato, "valid_from": v.valid_from,
         "valid_to": v.valid_to, "value": value_to_json(v.value), "recorded_at": v.recorded_at,
         "recorded_by": "release"}
        for v in read_parameter_csv(SHIPPED_PARAMETERS_DIR / SHIPPED_HERE)
    ])


def downgrade() -> None:
    op.execute(_TABLE.delete().where(_TABLE.c.name.in_(NAMES)))

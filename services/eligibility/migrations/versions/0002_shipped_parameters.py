"""Parameters shipped with the release (2024-2026): MCI, subsistence minimum and median income
per region and quarter, shares, policy values.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.eligibility.domain.parameters import SHIPPED_PARAMETERS_DIR, read_parameter_csv, value_to_json
from shared.ids import uuid7

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The files this release shipped; later migrations ship the files added since (0004:
# rule_parameters.csv), so a fresh database and one migrated step by step hold the same rows.
SHIPPED_HERE = ("national.csv", "policy.csv", "regional_statistics.csv")


def upgrade() -> None:
    table = sa.table(
        "parameters",
        sa.column("id", sa.Uuid), sa.column("name", sa.String), sa.column("region_kato", sa.String),
        sa.column("valid_from", sa.Date), sa.column("valid_to", sa.Date), sa.column("value", JSONB),
        sa.column("recorded_at", sa.DateTime(timezone=True)), sa.column("recorded_by", sa.String),
    )
    rows = [
        {"id": uuid7(), "name": v.name, "region_kato": v.region_kato, "valid_from": v.valid_from,
         "valid_to": v.valid_to, "value": value_to_json(v.value), "recorded_at": v.recorded_at,
         "recorded_by": "release"}
        for file in SHIPPED_HERE for v in read_parameter_csv(SHIPPED_PARAMETERS_DIR / file)
    ]
    op.bulk_insert(table, rows)


def downgrade() -> None:
    op.execute("DELETE FROM parameters WHERE recorded_by = 'release'")

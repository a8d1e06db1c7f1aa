"""The rule constants become dated parameters (ages, large-family rates; shipped in
`parameters/rule_parameters.csv`, with the 2023 `ban_months` a termination in 2023 needs); the
parameter no rule read (`not_counted_income_types`: what counts is `counted_income_types`) goes.

Revision ID: 0004
"""
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from services.eligibility.domain.parameters import SHIPPED_PARAMETERS_DIR, read_parameter_csv, value_to_json
from shared.ids import uuid7

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SHIPPED_HERE = "rule_parameters.csv"
RULE_PARAMETERS = (
    "child_supplement_min_age", "child_supplement_max_age", "adult_age", "student_child_age_limit",
    "large_family_allowance_mci_4_children", "large_family_allowance_mci_5_children",
    "large_family_allowance_mci_6_children", "large_family_allowance_mci_7_children",
    "large_family_allowance_mci_per_child_8_or_more",
)
NOT_COUNTED = ["large_family_allowance", "disabled_child_allowance", "scholarship", "tsa", "disaster_aid"]

_TABLE = sa.table(
    "parameters",
    sa.column("id", sa.Uuid), sa.column("name", sa.String), sa.column("region_kato", sa.String),
    sa.column("valid_from", sa.Date), sa.column("valid_to", sa.Date), sa.column("value", JSONB),
    sa.column("recorded_at", sa.DateTime(timezone=True)), sa.column("recorded_by", sa.String),
)


def upgrade() -> None:
    op.execute(_TABLE.delete().where(_TABLE.c.name == "not_counted_income_types"))
    op.bulk_insert(_TABLE, [
        {"id": uuid7(), "name": v.name, "region_kato": v.region_kato, "valid_from": v.valid_from,
         "valid_to": v.valid_to, "value": value_to_json(v.value), "recorded_at": v.recorded_at,
         "recorded_by": "release"}
        for v in read_parameter_csv(SHIPPED_PARAMETERS_DIR / SHIPPED_HERE)
    ])


def downgrade() -> None:
    # The code of 0003 knows none of these names: every value of them goes, not only the shipped ones.
    op.execute(_TABLE.delete().where(_TABLE.c.name.in_(RULE_PARAMETERS)))
    op.execute(_TABLE.delete().where(_TABLE.c.name == "ban_months", _TABLE.c.valid_from == date(2023, 1, 1),
                                     _TABLE.c.recorded_by == "release"))
    op.bulk_insert(_TABLE, [{
        "id": uuid7(), "name": "not_counted_income_types", "region_kato": None,
        "valid_from": date(2024, 1, 1), "valid_to": None, "value": NOT_COUNTED,
        "recorded_at": datetime(2023, 12, 1, tzinfo=UTC), "recorded_by": "release"}])

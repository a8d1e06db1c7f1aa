"""A bank code may belong to several bank callers (one per API client of the bank).

Revision ID: 0003
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("callers_bank_code_key", "callers", type_="unique")
    op.create_index("ix_callers_bank_code", "callers", ["bank_code"])


def downgrade() -> None:
    op.drop_index("ix_callers_bank_code", table_name="callers")
    op.create_unique_constraint("callers_bank_code_key", "callers", ["bank_code"])

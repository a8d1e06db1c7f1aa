"""Terminated social contracts per member (issue 11): the ban on a new assignment (art. 128).

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract_terminations",
        sa.Column("contract_id", sa.Uuid(), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("terminated_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("contract_id", "iin"),
    )
    op.create_index("ix_contract_terminations_iin", "contract_terminations", ["iin", "terminated_on"])


def downgrade() -> None:
    op.drop_index("ix_contract_terminations_iin", table_name="contract_terminations")
    op.drop_table("contract_terminations")

"""The register of current assignments (issue 12): one row per family per quarter decided, and
the family's members, in a shape a reassessment of a million families reads with one plain SELECT
(no JSON); and the reassessment runs with their progress (resumable).

Revision ID: 0007
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("period_quarter", sa.String(length=7), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("extension", sa.Boolean(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("application_date", sa.Date(), nullable=False),
        sa.Column("region_kato", sa.String(length=9), nullable=False),
        sa.Column("settlement", sa.String(length=5), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=13), nullable=True),
        sa.Column("poverty_line", sa.Integer(), nullable=False),
        sa.Column("per_capita_income", sa.Numeric(14, 2), nullable=False),
        sa.Column("reasons", sa.Integer(), nullable=False),
        sa.Column("rules_version", sa.String(length=40), nullable=False),
        sa.Column("months", postgresql.ARRAY(sa.String(length=7)), nullable=False),
        sa.Column("tsa", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("child_supplement", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("total", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("quarter_total", sa.BigInteger(), nullable=False),
        sa.Column("member_count", sa.SmallInteger(), nullable=False),
        sa.Column("composition", sa.String(length=32), nullable=False),
        sa.Column("contract_state", sa.String(length=10), nullable=False, server_default="none"),
        sa.Column("state", sa.String(length=6), nullable=False, server_default="active"),
        sa.Column("ended_reason", sa.String(length=30), nullable=True),
        sa.PrimaryKeyConstraint("family_id", "period_quarter"),
        sa.UniqueConstraint("decision_id", name="uq_assignments_decision"),
    )
    op.create_index("ix_assignments_quarter", "assignments", ["period_quarter", "family_id"])
    op.create_index("ix_assignments_application", "assignments", ["application_id"])
    op.create_table(
        "assignment_members",
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("iin", sa.String(length=12), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=6), nullable=False),
        sa.Column("relation", sa.String(length=11), nullable=False),
        sa.Column("employed", sa.Boolean(), nullable=False),
        sa.Column("full_time_student", sa.Boolean(), nullable=False),
        sa.Column("disability_group", sa.SmallInteger(), nullable=True),
        sa.Column("carer", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("family_id", "position"),
    )
    # a person in two families of the register: the run lists such a family for a case worker
    op.create_index("ix_assignment_members_iin", "assignment_members", ["iin"])
    op.create_table(
        "reassessment_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("families_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("families_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("chunks_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("after_family_id", sa.Uuid(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("totals", postgresql.JSONB(astext_type=sa.Text()), nullable=False,
                  server_default=sa.text("'{}'::jsonb")),
        sa.PrimaryKeyConstraint("id"),
    )
    # one run per quarter: a second POST finds it (and resumes it when it stopped)
    op.create_index("uq_reassessment_runs_quarter", "reassessment_runs", ["quarter"], unique=True)
    op.create_table(
        "reassessment_reviews",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("region_kato", sa.String(length=9), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "family_id"),
    )


def downgrade() -> None:
    op.drop_table("reassessment_reviews")
    op.drop_index("uq_reassessment_runs_quarter", table_name="reassessment_runs")
    op.drop_table("reassessment_runs")
    op.drop_index("ix_assignment_members_iin", table_name="assignment_members")
    op.drop_table("assignment_members")
    op.drop_index("ix_assignments_application", table_name="assignments")
    op.drop_index("ix_assignments_quarter", table_name="assignments")
    op.drop_table("assignments")

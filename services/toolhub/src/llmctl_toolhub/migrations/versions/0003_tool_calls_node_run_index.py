"""Index ``tool_calls`` by node run and call index (the agent-loop journal reads by them).

Revision 0001 creates tables from the live metadata, so a fresh database already has it.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS tool_calls_node_run_idx "
        "ON toolhub.tool_calls (node_run_id, call_index)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS toolhub.tool_calls_node_run_idx")

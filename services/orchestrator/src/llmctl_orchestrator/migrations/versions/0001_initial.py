"""Initial orchestrator schema: event store, outbox, inbox, flowcharts, runs, node runs.

Revision ID: 0001
"""

from alembic import op

from llmctl_orchestrator.tables import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

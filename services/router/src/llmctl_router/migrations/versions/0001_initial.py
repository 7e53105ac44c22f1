"""Initial router schema: routing-decision event store, outbox, inbox.

Revision ID: 0001
"""

from alembic import op

from llmctl_router.tables import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

"""Tool call records (``tool_calls``, ``tool_results``) and the special-node domain tables
(``memories``, ``plans``, ``milestones``, ``decisions``).

Revision 0001 creates tables from the live metadata, so a fresh database already has these;
this revision brings a database created before them up to date (each table only if missing).

Revision ID: 0002
"""

from alembic import op

from llmctl_toolhub.domains.tables import decisions, memories, milestones, plans
from llmctl_toolhub.tables import tool_calls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = [tool_calls.calls, tool_calls.results, memories, plans, milestones, decisions]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind, checkfirst=True)

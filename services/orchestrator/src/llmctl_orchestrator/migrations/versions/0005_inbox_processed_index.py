"""Index the inbox by ``processed_at`` (BRIN), so the retention sweeper finds expired rows.

Revision 0001 creates tables from the live metadata, so a fresh database already has it.

Revision ID: 0005
"""

from llmctl_libs.store.migrations import inbox_processed_index
from llmctl_orchestrator.tables import SCHEMA

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

upgrade, downgrade = inbox_processed_index(SCHEMA)

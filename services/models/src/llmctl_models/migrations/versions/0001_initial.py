"""Initial models schema: model records (1:1 provider binding).

Revision ID: 0001
"""

from llmctl_libs.store.migrations import initial_schema
from llmctl_models.tables import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

upgrade, downgrade = initial_schema(metadata)

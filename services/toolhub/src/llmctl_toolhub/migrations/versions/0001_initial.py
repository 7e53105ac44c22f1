"""Initial toolhub schema: event store, outbox, inbox.

Revision ID: 0001
"""

from llmctl_libs.store.migrations import initial_schema
from llmctl_toolhub.tables import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

upgrade, downgrade = initial_schema(metadata)

"""Compatibility drift: a model's settings snapshot is older than its provider's schema."""

from __future__ import annotations

from llmctl_contracts.models import DriftNotice

from .providers import ProviderSpec

__all__ = ["drift_notice"]


def drift_notice(provider: ProviderSpec, snapshot_version: int) -> DriftNotice | None:
    """The notice for a snapshot taken at ``snapshot_version``, or ``None`` when current."""
    current = provider.current_version
    if snapshot_version >= current:
        return None
    old = provider.schema(snapshot_version)
    old_names = {f.name for f in old.fields} if old is not None else set()
    new_fields = [f.name for f in provider.versions[-1].fields if f.name not in old_names]
    listed = ", ".join(new_fields) if new_fields else "changed settings"
    return DriftNotice(
        snapshot_version=snapshot_version,
        current_version=current,
        new_fields=new_fields,
        message=(
            f"{provider.display_name} settings schema v{current} adds {listed}; this model's "
            f"settings were saved at v{snapshot_version}: review settings to use them"
        ),
    )

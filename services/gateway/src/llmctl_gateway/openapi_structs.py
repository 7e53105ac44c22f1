"""OpenAPI schemas of msgspec Structs that refuse unknown fields say so.

Litestar's Struct schemas leave ``additionalProperties`` open, but the gateway decodes
contract Structs declared with ``forbid_unknown_fields=True`` strictly (an unknown field is
422). This plugin closes those schemas so the document matches what the API accepts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

__all__ = ["StrictStructSchemaPlugin"]


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Struct schemas with ``additionalProperties: false`` for ``forbid_unknown_fields``."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        """Only Structs declared with ``forbid_unknown_fields=True``."""
        if not super().is_plugin_supported_field(field_definition):
            return False
        config = getattr(field_definition.type_, "__struct_config__", None)
        return bool(getattr(config, "forbid_unknown_fields", False))

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        """The Struct's schema, closed to unknown properties."""
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema

"""Contract-validation tools: a node output against its JSON Schema, decision-condition
payloads, and the payload of a write tool, each answered without any effect."""

from __future__ import annotations

from typing import Annotated, Any

import jsonschema
import msgspec

from llmctl_contracts import ErrorBody, ErrorCode, FieldError
from llmctl_contracts.codec import field_error_from_msgspec
from llmctl_contracts.flowchart import DecisionCondition
from llmctl_libs.tools import ToolContext, ToolError, ToolRegistry, ToolSpec

__all__ = ["validation_tools"]

DOMAIN = "contract_validation"
MAX_ERRORS = 50


class NodeOutputArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An output and the JSON Schema (draft 2020-12) it must satisfy."""

    output: dict[str, Any]
    output_schema: dict[str, Any]


class ConditionPayloadArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Decision-condition payloads as a client would save them."""

    conditions: Annotated[list[Any], msgspec.Meta(max_length=1000)]


class WritePayloadArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The arguments a write tool would be called with."""

    tool: Annotated[str, msgspec.Meta(min_length=1)]
    arguments: dict[str, Any]
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None


class Validation(msgspec.Struct, frozen=True, kw_only=True):
    """A validation verdict.

    Attributes:
        valid: No errors.
        errors: Field-level problems (at most 50), fields as JSONPath-like locations.
    """

    valid: bool
    errors: list[FieldError] = msgspec.field(default_factory=list)


class ConditionValidationResult(msgspec.Struct, frozen=True, kw_only=True):
    """Decision-condition payload verdict, with the valid conditions normalized."""

    valid: bool
    errors: list[FieldError] = msgspec.field(default_factory=list)
    conditions: list[DecisionCondition] = msgspec.field(default_factory=list)


class WritePayloadValidation(msgspec.Struct, frozen=True, kw_only=True):
    """Verdict on a write tool's payload, against the version that would run."""

    tool: str
    version: int
    valid: bool
    errors: list[FieldError] = msgspec.field(default_factory=list)


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validation_tools(registry: ToolRegistry) -> list[ToolSpec[Any, Any]]:
    """The contract-validation tools (``write_payload_validate`` consults ``registry``)."""

    async def node_output_validate(ctx: ToolContext, args: NodeOutputArgs) -> Validation:
        try:
            validator_type = jsonschema.validators.validator_for(
                args.output_schema, default=jsonschema.Draft202012Validator
            )
            validator_type.check_schema(args.output_schema)
        except jsonschema.SchemaError as exc:
            raise ToolError(
                ErrorBody(
                    code=ErrorCode.VALIDATION_FAILED,
                    message=f"output_schema is not a valid JSON Schema: {exc.message}",
                    details=[
                        FieldError(
                            field="arguments.output_schema"
                            + _json_path(exc.absolute_path).removeprefix("$"),
                            reason=exc.message,
                        )
                    ],
                )
            ) from exc
        validator = validator_type(args.output_schema)
        errors = sorted(validator.iter_errors(args.output), key=lambda e: list(e.absolute_path))
        return Validation(
            valid=not errors,
            errors=[
                FieldError(field=_json_path(e.absolute_path), reason=e.message)
                for e in errors[:MAX_ERRORS]
            ],
        )

    async def condition_payload_validate(
        ctx: ToolContext, args: ConditionPayloadArgs
    ) -> ConditionValidationResult:
        errors: list[FieldError] = []
        good: list[DecisionCondition] = []
        seen: set[str] = set()
        for index, raw in enumerate(args.conditions):
            try:
                condition = msgspec.convert(raw, DecisionCondition, strict=True)
            except msgspec.ValidationError as exc:
                detail = field_error_from_msgspec(exc)
                field = f"$.conditions[{index}]" + detail.field.removeprefix("$")
                errors.append(FieldError(field=field, reason=detail.reason))
                continue
            good.append(condition)
            if condition.connector_id in seen:
                errors.append(
                    FieldError(
                        field=f"$.conditions[{index}].connector_id",
                        reason="another condition already targets this connector",
                    )
                )
            seen.add(condition.connector_id)
        return ConditionValidationResult(
            valid=not errors, errors=errors[:MAX_ERRORS], conditions=[] if errors else good
        )

    async def write_payload_validate(
        ctx: ToolContext, args: WritePayloadArgs
    ) -> WritePayloadValidation:
        try:
            spec = registry.get(args.tool, args.version)
        except ToolError as exc:
            raise ToolError(
                msgspec.structs.replace(
                    exc.body,
                    details=[
                        msgspec.structs.replace(d, field=f"arguments.{d.field}")
                        for d in exc.body.details
                    ],
                )
            ) from exc
        if not spec.writes:
            raise ToolError(
                ErrorBody.for_field(
                    ErrorCode.VALIDATION_FAILED,
                    "arguments.tool",
                    "not a write tool",
                    message=f"{spec.name} does not write; only write tools are checked here",
                )
            )
        try:
            spec.decode_arguments(args.arguments)
        except msgspec.ValidationError as exc:
            detail = field_error_from_msgspec(exc)
            return WritePayloadValidation(
                tool=spec.name, version=spec.version, valid=False, errors=[detail]
            )
        return WritePayloadValidation(tool=spec.name, version=spec.version, valid=True)

    return [
        ToolSpec(
            "node_output_validate",
            1,
            DOMAIN,
            "Validate a node output against a JSON Schema; every violation with its location.",
            NodeOutputArgs,
            Validation,
            node_output_validate,
        ),
        ToolSpec(
            "connector_condition_payload_validate",
            1,
            DOMAIN,
            "Validate decision-condition payloads (shape, operators, one condition per "
            "connector) before saving them; returns the normalized conditions when valid.",
            ConditionPayloadArgs,
            ConditionValidationResult,
            condition_payload_validate,
        ),
        ToolSpec(
            "write_payload_validate",
            1,
            DOMAIN,
            "Check the arguments of a write tool against its input schema without running it.",
            WritePayloadArgs,
            WritePayloadValidation,
            write_payload_validate,
        ),
    ]

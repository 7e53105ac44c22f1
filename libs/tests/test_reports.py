"""Workers' reports that would not fit in one bus message are cut down, never left unsent."""

from __future__ import annotations

from llmctl_contracts import ErrorCode, MessageType, decode_envelope, decode_payload
from llmctl_contracts.events import NodeExecuted
from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.reports import report_that_fits

LIMIT = 64 * 1024
_CAUSE = make_envelope(
    MessageType.NODE_EXECUTED,  # any envelope: only its trace and run id are used
    {},
    trace=Trace(correlation_id="c"),
    idempotency_key="execute:nr-1:1",
    run_id="run-1",
)


def _report(output: str, detail: str | None) -> NodeExecuted:
    return NodeExecuted(
        node_run_id="nr-1",
        node_id="t",
        attempt=2,
        succeeded=True,
        output={"text": output},
        warnings=["w"],
        artifact=None if detail is None else {"prompt": detail},
    )


def _sent(body: bytes) -> NodeExecuted:
    envelope = decode_envelope(body)
    assert envelope.idempotency_key == "executed:nr-1:2"  # the same key whatever was cut
    assert envelope.run_id == "run-1"
    return decode_payload(envelope, NodeExecuted)


def test_a_report_that_fits_goes_whole() -> None:
    report = _report("hi", "prompt")
    assert _sent(report_that_fits(_CAUSE, report, LIMIT)) == report


def test_a_report_too_large_for_its_detail_goes_without_the_detail() -> None:
    body = report_that_fits(_CAUSE, _report("hi", "p" * LIMIT), LIMIT)
    assert len(body) <= LIMIT
    sent = _sent(body)
    assert sent.succeeded
    assert sent.output == {"text": "hi"}
    assert sent.artifact is not None
    assert sent.artifact["detail_omitted"].startswith("left out: the report with it was ")


def test_a_report_too_large_for_its_output_reports_the_attempt_failed_too_large() -> None:
    body = report_that_fits(_CAUSE, _report("o" * LIMIT, "p" * LIMIT), LIMIT)
    assert len(body) <= LIMIT
    sent = _sent(body)
    assert not sent.succeeded
    assert sent.output == {}
    assert sent.error is not None
    assert sent.error.code is ErrorCode.TOO_LARGE
    assert f"more than the message bus carries ({LIMIT:,} bytes)" in sent.error.message
    assert (sent.attempt, sent.warnings) == (2, ["w"])

"""A stand-in service for tests of the supervisor: answers health checks, nothing else.

``python -m llmctl_infra._fake_service`` serves ``GET /healthz`` (and ``/api/v1/health``) on
``LLMCTL_GATEWAY_PORT`` when set, else ``LLMCTL_HEALTH_PORT``. With the argument ``migrate``
it exits 0, or 1 when ``LLMCTL_FAKE_FAIL_MIGRATE`` is set. ``LLMCTL_FAKE_EXIT_CODE`` makes it
exit at once with that code (a service that cannot start).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

__all__ = ["main"]

_HEALTH_PATHS = ("/healthz", "/api/v1/health")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        status = 200 if path in _HEALTH_PATHS else 404
        body = json.dumps(
            {
                "ok": status == 200,
                "service": os.environ.get("LLMCTL_SERVICE_NAME"),
                "pid": os.getpid(),
            }
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Run the fake service; return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["migrate"]:
        print(f"fake migrate for {os.environ.get('LLMCTL_SERVICE_NAME')}", flush=True)
        return 1 if os.environ.get("LLMCTL_FAKE_FAIL_MIGRATE") else 0
    if os.environ.get("LLMCTL_FAKE_EXIT_CODE"):
        print("fake service failing on purpose", flush=True)
        return int(os.environ["LLMCTL_FAKE_EXIT_CODE"])
    port = int(os.environ.get("LLMCTL_GATEWAY_PORT") or os.environ["LLMCTL_HEALTH_PORT"])
    signal.signal(signal.SIGTERM, _exit)
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    print(f"fake service listening on {port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

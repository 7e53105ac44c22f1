"""free_port never hands the same port out twice in one process."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

from llmctl_infra.ports import LOOPBACK, free_port


def test_ports_handed_out_are_distinct_and_free() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        ports = list(pool.map(lambda _: free_port(), range(400)))
    assert len(set(ports)) == len(ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, ports[-1]))  # still free: nothing else of ours took it

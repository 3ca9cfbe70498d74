"""A real S3 server on loopback (moto's server mode) that tests can stop and start again."""

from __future__ import annotations

import socket
import time

from moto.server import ThreadedMotoServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Server:
    """Stopping it refuses connections like a store that went away; its buckets survive a restart."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server: ThreadedMotoServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
                self._server.start()
                break
            except OSError:
                # The port can linger briefly after a stop.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._wait(up=True)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._wait(up=False)

    def _wait(self, *, up: bool) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    if up:
                        return
            except OSError:
                if not up:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"S3 server on port {self.port} did not {'start' if up else 'stop'}")

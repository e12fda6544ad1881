"""A loopback HTTP proxy in front of an S3 server that records every request it forwards: what
any client (botocore, obstore) really sends, counted where the server would see it.

    with CountingProxy(s3.endpoint_url) as proxy:
        ... MODELREG_ENDPOINT_URL=proxy.url ...
        proxy.requests  # ["GET /bucket/prefix/published.json", ...]
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


class CountingProxy:
    """Forwards every request to ``upstream`` unchanged (the Host header too, so signatures hold)."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.requests.append(f"{self.command} {self.path}")
                host, port = target.hostname or "127.0.0.1", target.port or 80
                upstream_conn = http.client.HTTPConnection(host, port, timeout=60)
                upstream_conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in self.headers.items():
                    upstream_conn.putheader(key, value)
                upstream_conn.endheaders(body)
                answer = upstream_conn.getresponse()
                data = answer.read()
                self.send_response_only(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                # A HEAD answer has no body but the object's length: pass that on as it came.
                length_header = answer.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length_header or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream_conn.close()

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def take(self) -> list[str]:
        """The requests recorded since the last call."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> CountingProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

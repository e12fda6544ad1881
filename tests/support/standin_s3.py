"""A stand-in S3 server on loopback (standard library only) that stores, lists and serves objects
but ignores ``If-None-Match`` and ``If-Match``: every conditional write wins, as on servers that
shipped the headers without honouring them. ``remote check`` must refuse it."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape


class _Handler(BaseHTTPRequestHandler):
    objects: dict[str, bytes]
    lock: threading.Lock

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def _split(self) -> tuple[str, str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        bucket, _, key = parts.path.lstrip("/").partition("/")
        return bucket, key, parse_qs(parts.query)

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_PUT(self) -> None:
        _, key, _ = self._split()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            self.objects[key] = body  # the conditions are not even read
        self._send(200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    def do_HEAD(self) -> None:
        _, key, _ = self._split()
        if not key:
            self._send(200)
            return
        with self.lock:
            body = self.objects.get(key)
        if body is None:
            self._send(404)
        else:
            self._send(200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"', "Content-Length": str(len(body))})

    def do_GET(self) -> None:
        bucket, key, query = self._split()
        if not key:
            prefix = query.get("prefix", [""])[0]
            with self.lock:
                found = sorted((k, len(v)) for k, v in self.objects.items() if k.startswith(prefix))
            items = "".join(f"<Contents><Key>{escape(k)}</Key><Size>{n}</Size></Contents>" for k, n in found)
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
                f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(found)}</KeyCount>"
                f"<IsTruncated>false</IsTruncated>{items}</ListBucketResult>"
            )
            self._send(200, xml.encode(), {"Content-Type": "application/xml"})
            return
        with self.lock:
            body = self.objects.get(key)
        if body is None:
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"})
            return
        etag = f'"{hashlib.md5(body).hexdigest()}"'
        wanted = self.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            first, _, last = wanted[6:].partition("-")
            start, end = int(first), min(int(last), len(body) - 1) if last else len(body) - 1
            if not body or start >= len(body):
                self._send(416)
                return
            piece = body[start : end + 1]
            self._send(206, piece, {"ETag": etag, "Content-Range": f"bytes {start}-{end}/{len(body)}"})
            return
        self._send(200, body, {"ETag": etag})


class StandInS3:
    """``with StandInS3() as server: ... server.endpoint_url ...``"""

    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"objects": {}, "lock": threading.Lock()})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandInS3:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()

"""A toy model server for the prediction tests: standard library only, on loopback.

    python tests/support/toy_model_server.py SERVED_DIR

Verifies SERVED_DIR once with ``modelreg.serving.identity`` (the registry is found from the
served copy's path, or ``$MODELREG_REGISTRY``), prints ``listening PORT`` when it accepts
connections, and answers ``POST /predict`` (a JSON object with ``x``) with a score stamped with
a prediction id and the version that made it. It runs until killed.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from modelreg.serving import identity, prediction_id

SERVED = identity(sys.argv[1])
WEIGHT = sum(SERVED.digest.encode()) % 97 / 97  # something that differs between versions


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        body = json.dumps(
            {
                "score": float(request.get("x", 0)) * WEIGHT,
                "prediction_id": prediction_id(SERVED),
                "model": SERVED.name,
                "version": SERVED.version,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

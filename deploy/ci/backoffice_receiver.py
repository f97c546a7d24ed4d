#!/usr/bin/env python3
"""A tiny back office for `.ci/run multi`: counts the outbox's deliveries by dossier code.

Accepts `POST /` with the outbox's `Idempotency-Key` header (the dossier code) and a JSON body
`{"envelope": "..."}`, answers 202 and counts the delivery; `GET /counts` answers the counts as
JSON, `{"<dossier code>": <deliveries>}`. Every delivery is counted, a repeated one too: the test
asserts each dossier arrives exactly once. Loopback only. Standard library only.

    python3 backoffice_receiver.py <port>
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        key = self.headers.get("Idempotency-Key")
        try:
            envelope = json.loads(body).get("envelope")
        except ValueError:
            envelope = None
        if not key or not isinstance(envelope, str) or envelope.count(".") != 2:
            self.answer(400, {"error": "expected an Idempotency-Key and a compact JWS envelope"})
            return
        with LOCK:
            COUNTS[key] = COUNTS.get(key, 0) + 1
        self.answer(202, {"received": key})

    def do_GET(self):
        if self.path != "/counts":
            self.answer(404, {"error": "not found"})
            return
        with LOCK:
            counts = dict(COUNTS)
        self.answer(200, counts)

    def answer(self, status, document):
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_):
        # The codes are not personal data, but the log would only repeat the counts.
        pass


def main():
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"back office receiver on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

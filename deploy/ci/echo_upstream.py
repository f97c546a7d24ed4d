#!/usr/bin/env python3
"""A tiny upstream portal for the gateway-mode checks: answers every request with JSON naming
the path, the headers and the number of body bytes it received.

    python3 deploy/ci/echo_upstream.py PORT

Listens on 127.0.0.1:PORT until it is stopped. Standard library only.
"""

import http.server
import json
import sys


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        received = len(self.rfile.read(length)) if length else 0
        body = json.dumps(
            {
                "path": self.path,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "bytes": received,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = answer

    def log_message(self, format, *args):
        sys.stderr.write("echo_upstream: " + format % args + "\n")


if __name__ == "__main__":
    port = int(sys.argv[1])
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Echo).serve_forever()

"""`python -m bench.harness.idle_server PORT`: an HTTP server that does nothing but answer
200, at normal priority. Probed beside the service during the flood, it shows what the
machine alone adds to any process's answer: the time a process that was idle waits for a CPU.
"""

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a line per probe would only fill the benchmark's output."""


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(sys.argv[1])), _Ok).serve_forever()

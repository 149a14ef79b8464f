"""A fault-injecting HTTP proxy in front of the S3 API server (moto) on loopback: forwards every
call, and fails a share of them as real S3 and real networks do — ``503 SlowDown``, a call that
hangs and is then dropped (a timeout), a connection reset before S3 sees the call, and a reset
*after* S3 carried it out (the caller never hears that it worked). The soak (``bench/soak.py``)
runs its workers and its own calls through it; the rate can change at any time (outage bursts)."""

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULT_KINDS = ("slowdown", "timeout", "reset", "lost_answer")
SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FaultProxy:
    """Forward to ``upstream`` (``http://host:port``); fail a share ``rate`` (0..1) of the calls,
    chosen by a ``random.Random(seed)``. ``faults`` counts the injected faults by kind."""

    def __init__(self, upstream, seed=0, rate=0.0, hang_seconds=2.0):
        self.upstream = urlsplit(upstream)
        self.rate, self.hang_seconds = rate, hang_seconds
        self.rng, self.guard = random.Random(seed), threading.Lock()
        self.scripted = []  # [(matches(method, path), kind)]: the next matching call gets that fault
        self.faults, self.calls = Counter(), Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reset(self):
                # SO_LINGER 0: close with RST, as a broken network or load balancer does.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _forward(self):
                body = self._body()
                fault = proxy.draw(self.command, self.path)
                proxy.calls[self.command] += 1
                if fault == "slowdown":
                    self.send_response(503, "Slow Down")
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOWDOWN)))
                    self.end_headers()
                    self.wfile.write(SLOWDOWN)
                    return
                if fault == "timeout":
                    time.sleep(proxy.hang_seconds)
                    self._reset()
                    return
                if fault == "reset":
                    self._reset()
                    return
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                skip = ("connection", "transfer-encoding", "content-length")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                if fault == "lost_answer":  # S3 did it; the caller never hears so
                    self._reset()
                    return
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a caller that gave up (timeout) or a connection we reset on purpose

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fail_next(self, matches, kind):
        """Give the next call that ``matches(method, path)`` the fault ``kind`` (tests)."""
        with self.guard:
            self.scripted.append((matches, kind))

    def draw(self, method, path):
        """The fault for this call (None: forward it untouched)."""
        with self.guard:
            for n, (matches, kind) in enumerate(self.scripted):
                if matches(method, path):
                    del self.scripted[n]
                    self.faults[kind] += 1
                    return kind
            if self.rate <= 0 or self.rng.random() >= self.rate:
                return None
            kind = self.rng.choice(FAULT_KINDS)
            self.faults[kind] += 1
            return kind

    @property
    def total_faults(self):
        return sum(self.faults.values())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def route_storages_through(settings, proxy):
    """Point the S3 storages of ``settings`` (the ``s3_storages`` fixture's) at ``proxy``."""
    settings.STORAGES = {
        **settings.STORAGES,
        **{
            name: {
                **settings.STORAGES[name],
                "OPTIONS": {**settings.STORAGES[name]["OPTIONS"], "endpoint_url": proxy.url},
            }
            for name in ("default", "active", "archive")
        },
    }

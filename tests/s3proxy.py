"""A small HTTP proxy in front of the S3 API server (moto) on loopback, to stop a real worker at an
exact point of a storage call: before S3 receives a request, or after S3 has carried it out but
before the worker hears the answer. Tests then kill the worker there."""

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class Rule:
    """Requests that ``matches(method, path)`` selects are held ``when`` "before" forwarding or
    "after" S3 answered, until :meth:`release`, or (``when="fail"``) answered with an error; ``seen``
    is set when one arrives."""

    def __init__(self, matches, when):
        self.matches, self.when = matches, when
        self.seen, self.released = threading.Event(), threading.Event()
        self.dropped = False

    def release(self):
        self.released.set()


class S3Proxy:
    """Forwards every request to ``upstream`` (``http://host:port``), after ``latency`` seconds;
    :meth:`hold` and :meth:`fail` add a rule."""

    def __init__(self, upstream, latency=0.0):
        self.upstream = urlsplit(upstream)
        self.latency = latency  # seconds added to every request, as a network round trip would
        self.rules = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            _error = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rule = next((r for r in proxy.rules if r.matches(self.command, self.path)), None)
                if rule is not None:
                    rule.seen.set()
                    if rule.when == "fail":  # S3 answers an error and does nothing
                        self.send_response(500)
                        self.send_header("Content-Type", "application/xml")
                        self.send_header("Content-Length", str(len(self._error)))
                        self.end_headers()
                        self.wfile.write(self._error)
                        return
                    if rule.when == "before":
                        rule.released.wait(120)
                        if rule.dropped:  # it never reached S3: its caller is gone
                            self.send_error(503)
                            return
                if proxy.latency:
                    time.sleep(proxy.latency)
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                if rule is not None and rule.when == "after":
                    rule.released.wait(120)
                if rule is not None and rule.when == "lost":  # S3 acted; its caller hears an error
                    answer.status, answer.reason, data = 500, "Internal Server Error", self._error
                    answer.getheaders = lambda: [("Content-Type", "application/xml")]
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def hold(self, matches, when="before"):
        """Hold the first and every later request ``matches(method, path)`` selects; returns the rule."""
        rule = Rule(matches, when)
        self.rules.append(rule)
        return rule

    def fail(self, matches):
        """Answer every request ``matches(method, path)`` selects with S3's 500 InternalError,
        without forwarding it; returns the rule."""
        return self.hold(matches, when="fail")

    def lose_answers(self, matches):
        """Forward every request ``matches(method, path)`` selects to S3, then answer its caller S3's
        500 InternalError as if the answer had been lost: S3 did the work, the caller cannot know."""
        return self.hold(matches, when="lost")

    def clear(self, *, drop=True):
        """Let every held request go (with ``drop``, one held *before* S3 never reaches it: its caller
        was killed) and forward everything from now on."""
        for rule in self.rules:
            rule.dropped = drop
            rule.release()
        self.rules = []

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.clear()
        self.server.shutdown()
        self.server.server_close()


def delete_objects(method, path):
    """S3's batched DeleteObjects call (``POST /bucket?delete``)."""
    return method == "POST" and "?delete" in path

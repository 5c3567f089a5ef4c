#!/usr/bin/env python3
"""Read-through caching proxy with fixed latency, for the scale benchmark only.

    python cache_proxy.py UPSTREAM_URL --delay-ms 50 --port-file F

Why: at 16 regions the single moto process spends most of the wall time serving calls
(~9 ms of CPU each), so the benchmark would measure moto, not cwfix. `cwfix plan` only reads,
so after one warm-up run every request of a run has been seen: the proxy answers it from its
cache after sleeping `delay-ms` (a fixed network latency), concurrently on its own thread, with
~1 ms of CPU. The cache key is everything that selects a response: method, path, the AWS
region and service from the SigV4 credential scope, X-Amz-Target, content type and the body.

GET /_proxy/calls -> {"calls": {service: n}, "total": n, "hits": n, "misses": n};
POST /_proxy/calls/reset.
"""
import argparse
import hashlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCOPE = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request")
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("upstream")
    ap.add_argument("--delay-ms", type=float, default=50)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    cache, lock = {}, threading.Lock()
    stats = {"calls": {}, "hits": 0, "misses": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _send(self, status, headers, body):
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _control(self):
            with lock:
                if self.command == "POST":
                    stats["calls"].clear()
                    stats["hits"] = stats["misses"] = 0
                doc = dict(stats, total=sum(stats["calls"].values()))
            self._send(200, [("Content-Type", "application/json")], json.dumps(doc).encode())

        def _proxy(self):
            if self.path.startswith("/_proxy/calls"):
                return self._control()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            m = SCOPE.search(self.headers.get("Authorization", ""))
            region, service = (m.group(1), m.group(2)) if m else ("?", "?")
            key = hashlib.sha256(b"\0".join([
                self.command.encode(), self.path.encode(), region.encode(), service.encode(),
                (self.headers.get("X-Amz-Target") or "").encode(),
                (self.headers.get("Content-Type") or "").encode(), body])).hexdigest()
            with lock:
                stats["calls"][service] = stats["calls"].get(service, 0) + 1
                hit = cache.get(key)
                stats["hits" if hit else "misses"] += 1
            time.sleep(args.delay_ms / 1000.0)
            if hit is None:
                req = urllib.request.Request(args.upstream + self.path, data=body if body else None,
                                             method=self.command,
                                             headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        hit = (r.status, list(r.headers.items()), r.read())
                except urllib.error.HTTPError as e:
                    hit = (e.code, list(e.headers.items()), e.read())
                if hit[0] < 300:
                    with lock:
                        cache[key] = hit
            self._send(*hit)

        do_GET = do_POST = do_PUT = do_DELETE = _proxy

    # The default listen backlog (5) drops connections when 16 regions' clients connect at
    # once, and the kernel's SYN retry then adds whole seconds.
    ThreadingHTTPServer.request_queue_size = 256
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(args.port_file, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    main()

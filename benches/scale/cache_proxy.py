#!/usr/bin/env python3
"""Read-through caching proxy with fixed latency, for the scale benchmarks only.

    python cache_proxy.py UPSTREAM_URL --delay-ms 50 --port-file F

Why: at 16 regions the single moto process spends most of the wall time serving calls
(~9 ms of CPU each), so the benchmark would measure moto, not cwfix. `cwfix plan` only reads,
so after one warm-up run every request of a run has been seen: the proxy answers it from its
cache after waiting `delay-ms` (a fixed network latency). The cache key is everything that
selects a response: method, path, the caller's access key id, the AWS region and service from
the SigV4 credential scope, X-Amz-Target, content type and the body. The access key keeps
accounts apart (`--org`): a member's key comes from an AssumeRole whose answer is itself
cached, so every run enters each account with the same key.

One asyncio loop, HTTP/1.1 with keep-alive: the wait is a timer, not a thread, and a cached
answer costs ~0.1 ms of CPU, so 100 accounts x 4 regions (thousands of calls in a second or
two) measure cwfix rather than this proxy. Misses (the warm-up) go upstream on a thread.

GET /_proxy/calls -> {"calls": {service: n}, "total": n, "hits": n, "misses": n};
POST /_proxy/calls/reset.
"""
import argparse
import asyncio
import hashlib
import http
import json
import re
import urllib.error
import urllib.request

SCOPE = re.compile(rb"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/aws4_request")
HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"date", b"server"}


class Proxy:
    def __init__(self, upstream: str, delay_ms: float):
        self.upstream = upstream.rstrip("/")
        self.delay = delay_ms / 1000.0
        self.cache: dict = {}
        self.stats = {"calls": {}, "hits": 0, "misses": 0}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                status, headers, body = await self.answer(*req)
                writer.write(response(status, headers, body))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def control(self, method: str) -> tuple:
        if method == "POST":
            self.stats["calls"].clear()
            self.stats["hits"] = self.stats["misses"] = 0
        doc = dict(self.stats, total=sum(self.stats["calls"].values()))
        return 200, [(b"Content-Type", b"application/json")], json.dumps(doc).encode()

    async def answer(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        if path.startswith("/_proxy/calls"):
            return self.control(method)
        m = SCOPE.search(headers.get(b"authorization", b""))
        key_id, region, service = m.groups() if m else (b"?", b"?", b"?")
        key = hashlib.sha256(b"\0".join([
            method.encode(), path.encode(), key_id, region, service, headers.get(b"x-amz-target", b""),
            headers.get(b"content-type", b""), key_body(path, body)])).hexdigest()
        svc = service.decode()
        self.stats["calls"][svc] = self.stats["calls"].get(svc, 0) + 1
        hit = self.cache.get(key)
        self.stats["hits" if hit else "misses"] += 1
        await asyncio.sleep(self.delay)
        if hit is None:
            hit = await asyncio.get_running_loop().run_in_executor(None, self.fetch, method, path, headers, body)
            if hit[0] < 300:
                self.cache[key] = hit
        return hit

    def fetch(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        hdrs = {k.decode(): v.decode() for k, v in headers.items() if k not in (b"host", b"content-length")}
        req = urllib.request.Request(self.upstream + path, data=body or None, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, [(k.encode(), v.encode()) for k, v in r.headers.items()], r.read()
        except urllib.error.HTTPError as e:
            return e.code, [(k.encode(), v.encode()) for k, v in e.headers.items()], e.read()


def key_body(path: str, body: bytes) -> bytes:
    """The body as far as it selects the answer. DescribeAlarmHistory asks for "the 30 days up to
    now", so its dates differ on every run while the answer does not (nothing acts on alarms in
    the bench): without this every history read would miss the cache and measure moto."""
    if not path.endswith("/operation/DescribeAlarmHistory") or not body:
        return body
    try:
        import cbor2
        doc = cbor2.loads(body)
        doc.pop("StartDate", None)
        doc.pop("EndDate", None)
        return cbor2.dumps(doc, canonical=True)
    except Exception:
        return body


async def read_request(reader: asyncio.StreamReader):
    """(method, path, {lowercase header: value}, body), or None at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head[:-4].split(b"\r\n")
    method, path, _ = lines[0].decode("latin-1").split(" ", 2)
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return method, path, headers, body


def response(status: int, headers: list, body: bytes) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    out = [f"HTTP/1.1 {status} {reason}".encode()]
    out += [k + b": " + v for k, v in headers if k.lower() not in HOP]
    out += [b"Content-Length: " + str(len(body)).encode(), b"", b""]
    return b"\r\n".join(out) + body


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("upstream")
    ap.add_argument("--delay-ms", type=float, default=50)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    proxy = Proxy(args.upstream, args.delay_ms)
    # A deep backlog: hundreds of clients connect at once with --org.
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", 0, backlog=1024)
    with open(args.port_file, "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""Replays the attacks the hardening work was measured against, on a running user-api-svc,
and prints what the server did with them (a benchmark, not a test: the numbers go in
BENCHMARKS.md). Standard library only.

  benches/abuse.py --url http://127.0.0.1:8080 --pid PID

1. sign-up burst: 100 concurrent POST /api/auth/register with an already-taken email; peak RSS
   (VmHWM) before and after, and how the answers split (409 / 503 busy / 429).
2. oversized Socket.IO messages: 40 WebSocket clients each send a 15 MB rates:subscribe;
   peak RSS, and whether any was acked.
3. slowloris: 1,000 connections sending headers a byte at a time, plus 200 that send nothing;
   how long until the server closed them, and whether a normal request is still served.
"""

import argparse
import base64
import concurrent.futures
import json
import os
import socket
import time
import urllib.error
import urllib.request


def rss_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def post(url, body):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return "error"


def signup_burst(base, pid, n=100):
    email = f"taken-{os.getpid()}@abuse.test"
    body = {"email": email, "password": "correct horse battery staple"}
    post(base + "/api/auth/register", body)
    rss0, hwm0 = rss_kib(pid)
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(lambda _: post(base + "/api/auth/register", body), range(n)))
    took = time.time() - t0
    rss1, hwm1 = rss_kib(pid)
    split = {c: codes.count(c) for c in sorted(set(codes), key=str)}
    print(f"signup burst: {n} concurrent registrations of a taken email in {took:.2f} s; "
          f"answers {split}; RSS {rss0 // 1024} MiB -> peak {hwm1 // 1024} MiB "
          f"(peak before {hwm0 // 1024} MiB)")


def ws_connect(host, port):
    s = socket.create_connection((host, port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed during handshake")
        resp += chunk
    if b" 101 " not in resp.split(b"\r\n")[0]:
        raise RuntimeError(resp.split(b"\r\n")[0])
    return s


def ws_send_text(s, text):
    payload = text.encode()
    n = len(payload)
    head = bytearray([0x81])
    if n < 126:
        head.append(0x80 | n)
    elif n < 65536:
        head.append(0x80 | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(0x80 | 127)
        head += n.to_bytes(8, "big")
    head += b"\0\0\0\0"  # a zero mask key: the payload goes as is
    s.sendall(bytes(head) + payload)


def oversized_sockets(host, port, pid, clients=40, size=15 << 20):
    rss0, _ = rss_kib(pid)
    t0 = time.time()
    acked = 0
    closed = 0

    def one(_):
        nonlocal acked, closed
        try:
            s = ws_connect(host, port)
            ws_send_text(s, "40")  # Socket.IO connect to "/"
            s.settimeout(5)
            ws_send_text(s, '421["rates:subscribe","' + "x" * size + '"]')
            deadline = time.time() + 5
            data = b""
            while time.time() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    closed += 1
                    return
                data += chunk
                if b"431[" in data:
                    acked += 1
                    return
        except (ConnectionError, socket.timeout, OSError):
            closed += 1

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(clients)))
    took = time.time() - t0
    rss1, hwm1 = rss_kib(pid)
    print(f"oversized socket messages: {clients} x {size >> 20} MB in {took:.2f} s; acked {acked}, "
          f"connection closed {closed}; RSS {rss0 // 1024} MiB -> {rss1 // 1024} MiB (peak {hwm1 // 1024} MiB)")


def slowloris(host, port, base, trickling=1000, silent=200, limit=60):
    socks = []
    for i in range(trickling + silent):
        try:
            s = socket.create_connection((host, port), timeout=5)
        except OSError as e:
            print(f"slowloris: connect {i} failed: {e}")
            break
        s.setblocking(False)
        socks.append((s, i < trickling))
    t0 = time.time()
    open_ = {id(s): (s, t) for s, t in socks}
    closed_at = []
    sent = 0
    line = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
    while open_ and time.time() - t0 < limit:
        for key, (s, trickle) in list(open_.items()):
            try:
                if trickle and sent < len(line) + 1000:
                    b = line[sent:sent + 1] if sent < len(line) else b"a"
                    s.send(b)
                data = s.recv(1024)
                if data == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                continue
            except OSError:
                closed_at.append(time.time() - t0)
                del open_[key]
                s.close()
        sent += 1
        time.sleep(0.2)
    t1 = time.time()
    try:
        with urllib.request.urlopen(base + "/health", timeout=5) as r:
            ok = r.status
    except Exception as e:
        ok = f"failed: {e}"
    closed_at.sort()
    n = len(closed_at)
    median = f"{closed_at[n // 2]:.1f}" if n else "-"
    last = f"{closed_at[-1]:.1f}" if n else "-"
    print(f"slowloris: {len(socks)} connections ({trickling} trickling headers, {silent} silent); "
          f"{n} closed by the server within {t1 - t0:.1f} s (median {median} s, last {last} s); "
          f"still open {len(open_)}; a normal GET /health meanwhile: {ok}")
    for s, _ in open_.values():
        s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--pid", type=int, required=True)
    a = p.parse_args()
    host, port = a.url.split("//")[1].split(":")
    port = int(port)
    signup_burst(a.url, a.pid)
    oversized_sockets(host, port, a.pid)
    slowloris(host, port, a.url)


if __name__ == "__main__":
    main()

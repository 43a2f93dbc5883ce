#!/usr/bin/env python3
"""Opens N keep-alive HTTP/1.1 connections, sends one GET on each, reads the response, then
holds them all idle so the server's memory per idle connection can be measured. With --silent
the connections are only opened, never written to.

Prints "ready ok=N failed=M" once every connection has had its response, holds for --hold
seconds, then prints "alive=K" (connections the server had not closed) and exits.
"""

import argparse
import asyncio
import sys


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def one(host, port, path, headers, silent, gate, conns, failures):
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
            if silent:
                conns.append((reader, writer))
                return
            extra = "".join(f"{h}\r\n" for h in headers)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode())
            status = await asyncio.wait_for(read_response(reader), 10)
            if status != 200:
                failures.append(f"status {status}")
            conns.append((reader, writer))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            failures.append(type(e).__name__)


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--count", type=int, default=10_000)
    p.add_argument("--in-flight", type=int, default=128, help="connections being set up at once")
    p.add_argument("--hold", type=float, default=5.0)
    p.add_argument("--silent", action="store_true", help="connect only, never send a byte")
    a = p.parse_args()

    gate = asyncio.Semaphore(a.in_flight)
    conns, failures = [], []
    await asyncio.gather(
        *(one(a.host, a.port, a.path, a.header, a.silent, gate, conns, failures) for _ in range(a.count))
    )
    kinds = {k: failures.count(k) for k in set(failures)}
    print(f"ready ok={len(conns)} failed={len(failures)} {kinds if kinds else ''}", flush=True)
    await asyncio.sleep(a.hold)
    # Let the event loop notice any FIN the server sent while we idled.
    await asyncio.sleep(0.2)
    alive = sum(1 for r, _ in conns if not r.at_eof())
    print(f"alive={alive}", flush=True)
    for _, w in conns:
        w.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)

"""A Python load generator (aiohttp + uvloop), the fallback when wrk is not installed.

Same job and same output as ``ocpi.lua`` under wrk: ``--concurrency`` connections, each
sending the call again as soon as the answer is in, for ``--seconds``; a unique X-Request-ID per
request; every answer checked for HTTP 200 and OCPI status 1000; one ``BENCH_JSON {...}`` line.
It is much slower than wrk (one Python process: about 3-5k requests/s on one core), so it
caps the direct baseline; forward.py says so in its report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]


def percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def run(args: argparse.Namespace, body: bytes | None) -> dict[str, object]:
    headers = dict(item.split(":", 1) for item in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    # As in ocpi.lua: a new object id per request in place of the URL's last segment and the
    # body's "id".
    unique = headers.pop("X-Bench-Unique-Id", None)
    body_head = body_tail = b""
    if unique is not None and body is not None:
        body_head, _, body_tail = body.partition(f'"id":"{unique}"'.encode())
        body_head += b'"id":"'
        body_tail = b'"' + body_tail
    url_head = args.url[: -len(unique)] if unique else args.url
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    counts = {"bad": 0, "bytes": 0}
    first_bad: list[str] = []
    connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=10)
    started = time.perf_counter()
    deadline = started + args.seconds

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
    ) as session:

        async def worker(number: int) -> None:
            count = 0
            while time.perf_counter() < deadline:
                count += 1
                sent = {**headers, "X-Request-ID": f"py-{number}-{count}"}
                url, data = args.url, body
                if unique:
                    object_id = f"P{number}-{count}"
                    url = url_head + object_id
                    data = body_head + object_id.encode() + body_tail
                begin = time.perf_counter()
                try:
                    async with session.request(
                        args.method, url, data=data, headers=sent
                    ) as response:
                        answer = await response.read()
                        status = response.status
                except TimeoutError:
                    errors["timeout"] += 1
                    continue
                except aiohttp.ClientError:
                    errors["read"] += 1
                    continue
                latencies.append((time.perf_counter() - begin) * 1e6)
                counts["bytes"] += len(answer)
                if status >= 400:
                    errors["status"] += 1
                if status != 200 or b'"status_code":1000' not in answer:
                    counts["bad"] += 1
                    if not first_bad:
                        first_bad.append(f"{status} {answer[:300].decode(errors='replace')}")

        await asyncio.gather(*(worker(n) for n in range(args.concurrency)))
    duration = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "duration_us": int(duration * 1e6),
        "bytes": counts["bytes"],
        "errors": errors,
        "bad": counts["bad"],
        "first_bad": first_bad[0] if first_bad else "",
        "latency_us": {
            "p50": percentile(latencies, 50),
            "p90": percentile(latencies, 90),
            "p99": percentile(latencies, 99),
            "mean": sum(latencies) / len(latencies) if latencies else 0.0,
            "max": latencies[-1] if latencies else 0.0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="-", help="file with the request body, - for none")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    body = None if args.body == "-" else Path(args.body).read_bytes()
    runner = uvloop.run if uvloop is not None else asyncio.run
    result = runner(run(args, body))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

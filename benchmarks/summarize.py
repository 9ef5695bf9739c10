"""Medians over several ``forward.py --json`` files (separate runs, separate hubs).

    python benchmarks/summarize.py run1.json run2.json run3.json

Prints, per call and concurrency, each run's hub req/s and the medians of req/s and latency,
direct, through nginx (``-`` where it was not run) and through the hub, and the CPU µs per call
of nginx and of the hub, as a Markdown table.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    rows: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for path in paths:
        for row in json.loads(Path(path).read_text())["runs"]:
            rows.setdefault((row["case"], row["concurrency"], row["target"]), []).append(row)

    def med(key: tuple[str, int, str], field: str) -> float:
        return float(statistics.median(r[field] for r in rows[key]))

    def cpu(key: tuple[str, int, str]) -> str:
        # Runs written before forward.py gave CPU per call have none.
        values = [r["cpu_us_per_call"][key[2]] for r in rows[key] if "cpu_us_per_call" in r]
        return f"{statistics.median(values):.0f}" if values else "-"

    print(
        "| call | conc | direct req/s | nginx req/s | hub req/s (each run) | hub req/s "
        "| hub/direct | hub/nginx | p50 ms direct / nginx / hub / hub added "
        "| p99 ms direct / nginx / hub / hub added | CPU µs/call nginx / hub |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case, conc in dict.fromkeys((c, n) for c, n, _ in rows):
        direct, nginx, hub = (case, conc, "direct"), (case, conc, "nginx"), (case, conc, "hub")
        if direct not in rows or hub not in rows:
            continue
        each = ", ".join(f"{r['rps']:.0f}" for r in rows[hub])
        d50, h50 = med(direct, "p50_ms"), med(hub, "p50_ms")
        d99, h99 = med(direct, "p99_ms"), med(hub, "p99_ms")
        d_rps, h_rps = med(direct, "rps"), med(hub, "rps")
        n50 = n99 = n_rps = ratio = "-"
        n_cpu = "-"
        if nginx in rows:
            n50, n99 = f"{med(nginx, 'p50_ms'):.2f}", f"{med(nginx, 'p99_ms'):.2f}"
            n_rps, ratio = f"{med(nginx, 'rps'):.0f}", f"{h_rps / med(nginx, 'rps'):.3f}"
            n_cpu = cpu(nginx)
        p50 = f"{d50:.2f} / {n50} / {h50:.2f} / +{h50 - d50:.2f}"
        p99 = f"{d99:.2f} / {n99} / {h99:.2f} / +{h99 - d99:.2f}"
        print(
            f"| {case.upper()} | {conc} | {d_rps:.0f} | {n_rps} | {each} | {h_rps:.0f} "
            f"| {h_rps / d_rps:.3f} | {ratio} | {p50} | {p99} | {n_cpu} / {cpu(hub)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

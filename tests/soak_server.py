#!/usr/bin/python3
"""Soak test of `dalle-vk serve`: many generations through one server process, its memory flat.

Runs --count generations (default 200), alternating the OpenAI endpoint and jobs followed to their end over
Server-Sent Events with previews every 2 rows, and samples the server's resident set (VmRSS; on lavapipe the
device memory is host memory, so it is counted there too) every 10 generations. Fails when the RSS after the
last generation exceeds the RSS after the first tenth (warm-up: pipelines, first allocations) by more than
--max-growth-mib. Prints one line per sample and a summary (docs/benchmarks.md "Serve soak").

Usage: tests/soak_server.py BUILD_DIR [--model PATH] [--count N] [--candidates M] [--max-growth-mib X]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server import Server  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--model", default="assets/dalle-emoji.gguf")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--candidates", type=int, default=2)
    ap.add_argument("--max-growth-mib", type=float, default=8.0)
    a = ap.parse_args()
    srv = Server("--model", a.model)
    samples, t0, warm = [], time.time(), None
    try:
        for i in range(a.count):
            body = {"prompt": ["red heart", "dog face", "rocket", "grinning face"][i % 4], "candidates": a.candidates,
                    "seed": i}
            if i % 2 == 0:
                st, _, out = srv.request("POST", "/v1/images/generations", body)
                assert st == 200, out
            else:
                st, _, job = srv.request("POST", "/v1/jobs", {**body, "preview_rows": 2})
                assert st == 202, job
                ev = srv.events(job["id"])
                assert ev[-1][1]["status"] == "done", ev[-1]
            if (i + 1) % 10 == 0:
                rss = rss_kib(srv.proc.pid)
                samples.append((i + 1, rss))
                print(f"after {i + 1:4d} generations: RSS {rss / 1024:7.1f} MiB, {time.time() - t0:6.1f} s", flush=True)
                if warm is None and i + 1 >= a.count // 10:
                    warm = rss
        _, _, health = srv.request("GET", "/health")
    finally:
        srv.stop()
    last, peak = samples[-1][1], max(r for _, r in samples)
    growth = (last - warm) / 1024
    print(f"summary: {a.count} generations ({a.candidates} candidates each, half as jobs with previews) in "
          f"{time.time() - t0:.0f} s; RSS after warm-up {warm / 1024:.1f} MiB, last {last / 1024:.1f} MiB, peak "
          f"{peak / 1024:.1f} MiB, growth {growth:+.1f} MiB; server completed {health['completed']}")
    if growth > a.max_growth_mib:
        print(f"FAIL: RSS grew {growth:.1f} MiB (> {a.max_growth_mib} MiB)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load test of ``chainrule serve``: many learners pressing Check at once.

Starts a real ``chainrule serve`` on 127.0.0.1 (a free port; never another host), then
``--clients`` threads send ``--submissions`` solutions in all, drawn in a fixed shuffled order
from the planted files of ``tests/exercise_solutions/``: correct ones, buggy ones (``=``
instead of ``+=``, relu passing negative gradients, breadth-first order), infinite loops and
20 GB allocations. A 503 is retried after its ``Retry-After``. Checks, and exits 1 unless all
hold:

- every submission is answered with its expected verdict (zero lost, zero wrong);
- no sandboxed grader process is left once the answers are in;
- the server's resident memory is flat: at the end, at most ``--max-growth-mb`` above what it
  was after the first 10% of gradings (the warm-up).

Prints the throughput (gradings per second), latency percentiles (from the first send to the
answer, retries included) overall and for correct solutions, and the 503 count. Bounded:
every request has a timeout, the whole run a deadline (``--deadline``), after which the
server is stopped and the run fails.

    python benchmarks/serve_load.py                  # 40 clients, 200 submissions
    python benchmarks/serve_load.py --clients 8 --submissions 40
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tests" / "exercise_solutions"


def _accumulation_fails(r: dict[str, Any]) -> bool:
    return _check(r, "accumulation")["status"] == "fail" and not r["passed"]


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


# name -> (share of the submissions, the verdict it must get)
MIX: dict[str, tuple[float, Any]] = {
    "correct": (0.55, lambda r: r["passed"] is True and bool(r["graph_text"])),
    "assign_grad": (0.12, _accumulation_fails),
    "relu_negative": (0.09, lambda r: _check(r, "grad_relu")["status"] == "fail"),
    "bfs_order": (0.09, lambda r: _check(r, "topo_order")["status"] == "fail"),
    "infinite_loop": (0.075, lambda r: _check(r, "grad_add")["status"] == "timeout"),
    "memory_hog": (
        0.075,
        lambda r: "more memory than the sandbox allows" in _check(r, "import")["message"],
    ),
}


def _rss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (any of its threads): the server's grader workers."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _pcts(values: list[float]) -> str:
    return "  ".join(f"p{q} {v:.2f}" for q, v in zip((50, 95, 99), values))


class Server:
    """A ``chainrule serve`` subprocess on 127.0.0.1, in its own process group."""

    def __init__(self, workers: int, queue: int | None, timeout: float) -> None:
        cmd = [sys.executable, "-m", "chainrule.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", "0", "--workers", str(workers), "--timeout", str(timeout)]
        if queue is not None:
            cmd += ["--queue", str(queue)]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        # The server's stderr, read on failure; closed with the object.
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            text=True,
            start_new_session=True,
        )
        line = self.proc.stdout.readline()  # "chainrule serve: http://127.0.0.1:PORT/ ..."
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            self.stop()
            self.log.seek(0)
            raise RuntimeError(f"the server did not start: {line!r} {self.log.read()}")
        self.port = int(match.group(1))
        for _ in range(100):
            try:
                self.get("/healthz")
                break
            except OSError:
                time.sleep(0.05)

    def get(self, path: str) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # uvicorn shuts down on SIGINT
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--queue", type=int, default=None, help="server queue (the server's default: 64)"
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per check")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the run")
    parser.add_argument("--max-growth-mb", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    names = []
    for name, (share, _) in MIX.items():
        names += [name] * round(share * args.submissions)
    names = (names + ["correct"] * args.submissions)[: args.submissions]
    random.Random(args.seed).shuffle(names)
    bodies = {n: json.dumps({"code": (SOLUTIONS / f"{n}.py").read_text()}).encode() for n in MIX}

    server = Server(args.workers, args.queue, args.timeout)
    start = time.monotonic()
    deadline = start + args.deadline
    todo = list(enumerate(names))
    lock = threading.Lock()
    results: dict[int, dict[str, Any]] = {}
    refused = [0]
    memory: list[tuple[int, int]] = []  # (gradings answered so far, RSS KiB)
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            with lock:
                if not todo:
                    return
                i, name = todo.pop(0)
            sent = time.monotonic()
            outcome: dict[str, Any] = {"name": name, "ok": False, "error": "deadline"}
            while time.monotonic() < deadline and not stop.is_set():
                # A fresh connection per attempt: a kept-alive one may have been closed by the
                # server while this client slept on Retry-After.
                timeout = max(1.0, deadline - time.monotonic())
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
                try:
                    conn.request(
                        "POST",
                        "/api/check",
                        bodies[name],
                        {"Content-Type": "application/json", "Connection": "close"},
                    )
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException) as e:
                    outcome = {"name": name, "ok": False, "error": f"{type(e).__name__}: {e}"}
                    break
                finally:
                    conn.close()
                if response.status == 503:
                    with lock:
                        refused[0] += 1
                    time.sleep(min(5.0, float(response.getheader("Retry-After", "1"))))
                    continue
                if response.status != 200:
                    outcome = {"name": name, "ok": False, "error": f"HTTP {response.status}"}
                    break
                report = json.loads(payload)
                try:
                    ok = bool(MIX[name][1](report))
                except (KeyError, StopIteration, TypeError):
                    ok = False
                timing = dict(
                    re.findall(r"(\w+);dur=(\d+)", response.getheader("Server-Timing", ""))
                )
                outcome = {
                    "name": name,
                    "ok": ok,
                    "error": "" if ok else "wrong verdict",
                    "seconds": time.monotonic() - sent,
                    "grade": float(timing.get("grade", "nan")) / 1000,
                    "queue": float(timing.get("queue", "nan")) / 1000,
                }
                break
            with lock:
                results[i] = outcome

    def monitor() -> None:
        while not stop.wait(0.25):
            try:
                memory.append((len(results), _rss_kib(server.proc.pid)))
            except (OSError, AttributeError):
                return

    threads = [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
    watcher = threading.Thread(target=monitor, daemon=True)
    try:
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()) + 5)
        wall = time.monotonic() - start
        stop.set()
        watcher.join()
        # The answers are in: no grader may still run (give cancelled ones a moment to end).
        left = _children(server.proc.pid)
        for _ in range(40):
            if not left:
                break
            time.sleep(0.05)
            left = _children(server.proc.pid)
        health = server.get("/healthz")
        end_rss = _rss_kib(server.proc.pid)
    finally:
        stop.set()
        server.stop()

    answered = [r for r in results.values() if r["ok"]]
    wrong = [r for r in results.values() if not r["ok"]]
    lost = args.submissions - len(results)
    latencies = [r["seconds"] for r in answered]
    correct_lat = [r["seconds"] for r in answered if r["name"] == "correct"]
    warm = [kib for n, kib in memory if n >= args.submissions // 10]
    base = warm[0] if warm else end_rss
    growth_mb = (end_rss - base) / 1024
    peak_mb = max([kib for _, kib in memory] + [end_rss]) / 1024

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"server: --workers {args.workers} --timeout {args.timeout:g} "
        f"(queue {health['queue_size']}); {args.clients} clients, {args.submissions} submissions"
    )
    print("mix: " + ", ".join(f"{n} {names.count(n)}" for n in MIX))
    print(f"wall {wall:.1f} s, throughput {len(answered) / wall:.2f} gradings/s")
    if latencies:
        pct = [_percentile(latencies, q) for q in (50, 95, 99)]
        print("latency, all (s, retries included): " + _pcts(pct))
    if correct_lat:
        pct = [_percentile(correct_lat, q) for q in (50, 95, 99)]
        print("latency, correct solutions (s):      " + _pcts(pct))
        print(f"  mean {statistics.mean(correct_lat):.2f} s over {len(correct_lat)}")
        grade = [r["grade"] for r in answered if r["name"] == "correct"]
        queue = [r["queue"] for r in answered if r["name"] == "correct"]
        print(
            "  of which grading (Server-Timing):  "
            + _pcts([_percentile(grade, q) for q in (50, 95, 99)])
        )
        print(
            "  of which queued (Server-Timing):   "
            + _pcts([_percentile(queue, q) for q in (50, 95, 99)])
        )
    print(f"503 answers (then retried): {refused[0]}")
    print(f"answered with the right verdict: {len(answered)}; wrong: {len(wrong)}; lost: {lost}")
    for r in wrong[:5]:
        print(f"  {r['name']}: {r['error']}")
    print(f"grader processes left: {len(left)}")
    print(
        f"server RSS: {base / 1024:.1f} MiB after warm-up, {end_rss / 1024:.1f} MiB at the end "
        f"(growth {growth_mb:+.1f} MiB, peak {peak_mb:.1f} MiB)"
    )
    ok = not wrong and not lost and not left and growth_mb <= args.max_growth_mb
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

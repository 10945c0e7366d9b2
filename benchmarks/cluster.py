"""Cost of the cluster features: one Prometheus scrape of nanowatch, and one DCGM poll.

Run: python benchmarks/cluster.py [--repeat R]

Times, in the same run:
- a scrape of `--metrics-port` (monitor.sources.metrics.render) for 1, 10 and 100 runs, against the
  baseline of the JSON records of the same Snapshots (what `--jsonl` writes each tick);
- a DcgmSource poll of a dcgm-exporter page with 2 and 8 GPUs served on loopback (fetch,
  parse, select, fold into GpuSamples), against the baseline of the bare HTTP GET of that page.
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from monitor.core.snapshot import Snapshot
from monitor.sources.dcgm import http_get, open_dcgm
from monitor.sources.metrics import render

PAGE = (Path(__file__).resolve().parent.parent / "tests" / "data" / "dcgm_exporter_h100x2_a.txt").read_text()


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def snapshots(n: int) -> list[Snapshot]:
    return [
        Snapshot(t=1.8e9, source=f"/runs/job-{i}/run.log", format="nanogpt", status="training", run_index=0,
                 iter=1000 + i, max_iters=5000, progress=0.2, loss=1.5, val_loss=1.6, step_time_s=0.0144,
                 eval_time_s=2.1, mfu=0.22, eta_finish=1.8e9 + 600, eta_remaining_s=600.0, eta_low=1.8e9 + 550,
                 eta_high=1.8e9 + 660, tokens_per_iter=16384, tokens_seen=16_400_000, tokens_total=81_936_384,
                 gpu_names=("NVIDIA H100 80GB HBM3",), gpu_count=1, power_w=612.0, vram_used_bytes=2**33,
                 energy_j=7.2e6, energy_final_j=3.0e7, energy_source="nvml-counter", price_per_kwh=0.15,
                 currency="USD", cost=0.3, cost_final=1.25)
        for i in range(n)
    ]


def page_with(gpus: int) -> str:
    """The recorded 2-GPU page repeated as more GPUs of the same node (distinct gpu/UUID labels)."""
    blocks = []
    for k in range(gpus // 2):
        blocks.append(PAGE.replace('gpu="0"', f'gpu="{2 * k}"').replace('gpu="1"', f'gpu="{2 * k + 1}"')
                      .replace("GPU-5fd4", f"GPU-{k:02d}d4").replace("GPU-a3c1", f"GPU-{k:02d}c1"))
    lines = blocks[0].splitlines()
    # keep HELP/TYPE once per family: merge the sample lines of every block under the first block's headers
    merged, extra = [], [b.splitlines() for b in blocks[1:]]
    for i, line in enumerate(lines):
        merged.append(line)
        if not line.startswith("#") and (i + 1 == len(lines) or lines[i + 1].startswith("#")):
            for other in extra:
                family = line.split("{")[0]
                merged.extend(x for x in other if x.startswith(family + "{"))
    return "\n".join(merged) + "\n"


def serve(body: str) -> tuple[ThreadingHTTPServer, str]:
    data = body.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/metrics"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    print(f"{'what':<38} {'nanowatch ms':>13} {'baseline ms':>12} {'ratio':>7}")
    for n in (1, 10, 100):
        snaps = snapshots(n)
        ours = best_ms(lambda snaps=snaps: render(snaps), args.repeat)  # type: ignore[misc]
        base = best_ms(lambda snaps=snaps: [s.to_json() for s in snaps], args.repeat)  # type: ignore[misc]
        print(f"{f'scrape of {n} runs (vs JSON records)':<38} {ours:>13.3f} {base:>12.3f} {ours / base:>7.1f}")
    for gpus in (2, 8):
        server, url = serve(page_with(gpus))
        try:
            source = open_dcgm([url])
            assert len(source.poll(0.0)) == gpus
            ours = best_ms(lambda source=source: source.poll(0.0), args.repeat)  # type: ignore[misc]
            base = best_ms(lambda url=url: http_get(url, 5.0), args.repeat)  # type: ignore[misc]
        finally:
            server.shutdown()
            server.server_close()
        print(f"{f'DCGM poll, {gpus} GPUs (vs bare GET)':<38} {ours:>13.3f} {base:>12.3f} {ours / base:>7.1f}")


if __name__ == "__main__":
    main()

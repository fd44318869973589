"""Teacher benchmarks: HTTP throughput against the local test server, and replay of a fully cached job.

1. Throughput with 50 ms server latency at 1, 8 and 64 requests in flight, as a fraction of the ideal
   (in flight / latency). Target: >= 0.9 at 64. The server runs in its own process (no shared GIL).
2. Replay of a fully cached job of 10,000 calls: requests made (target 0) and items/s (target >= 20,000/s).
Run: .venv/bin/python bench/teacher.py
"""
import os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('HF_HUB_OFFLINE', '1')

from metamath_nb.config import TeacherConfig
from metamath_nb.teacher import GenRequest, make_teacher
from metamath_nb.testserver import server_process, server_stats

LATENCY, SECONDS = 0.05, 3.0

def job(n, tag): return [GenRequest(prompt=f'{tag} question {i}: what is {i} + {i}?', seed=i, max_tokens=64) for i in range(n)]

def teacher(url, cache, in_flight):
    return make_teacher(TeacherConfig(backend='openai', model='bench', base_url=url, cache_path=str(cache),
                                      max_in_flight=in_flight, timeout_s=30), progress=False)

def main():
    tmp = Path(tempfile.mkdtemp())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} at start, "
          f"server latency {LATENCY * 1000:.0f} ms")
    with server_process(latency=LATENCY) as url:
        teacher(url, tmp/'warm.sqlite', 8).generate(job(16, 'warm'))          # connection set-up, imports
        for c in (1, 8, 64):
            ideal = c / LATENCY
            n = int(ideal * SECONDS)
            t = teacher(url, tmp/f'tp{c}.sqlite', c)
            s0 = server_stats(url)['process_cpu_s']
            t0, c0 = time.perf_counter(), time.process_time(); res = t.generate(job(n, f'tp{c}'))
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            scpu = server_stats(url)['process_cpu_s'] - s0
            assert all(r.ok for r in res)
            print(f"throughput  in_flight={c:3d}  calls={n:5d}  {n / dt:7.1f} req/s  ideal {ideal:6.0f}  fraction {n / dt / ideal:.3f}"
                  f"  cpu per call: client {cpu / n * 1e3:.3f} ms, server {scpu / n * 1e3:.3f} ms")
    with server_process(latency=0.0) as url:
        reqs = job(10_000, 'replay')
        t0 = time.perf_counter(); teacher(url, tmp/'replay.sqlite', 64).generate(reqs); fill = time.perf_counter() - t0
        before = server_stats(url)['received']
        t = teacher(url, tmp/'replay.sqlite', 64)
        t0 = time.perf_counter(); res = t.generate(reqs); dt = time.perf_counter() - t0
        made = server_stats(url)['received'] - before
        assert all(r.cached for r in res) and len(res) == 10_000
        print(f"replay      calls=10000  filled in {fill:.1f}s  requests made on replay {made}  "
              f"{10_000 / dt:,.0f} items/s ({dt * 1000:.0f} ms)")
    print(f"load average {os.getloadavg()[0]:.1f} at end")

if __name__ == '__main__': main()

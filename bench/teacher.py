"""Teacher benchmarks: HTTP throughput against the local test server, and replay of a fully cached job.

1. Throughput with 50 ms server latency at 1, 8 and 64 requests in flight, as a fraction of the ideal
   (in flight / latency). Target: >= 0.9 at 64. The server runs in its own process (no shared GIL).
2. Replay of a fully cached job of 10,000 calls: requests made (target 0) and items/s (target >= 20,000/s).
3. References at 64 in flight against the same server, to tell the client's cost from the server's and the machine's:
   the same posts through bare aiohttp (no cache, ledger, retries or endpoints), a minimal HTTP/1.1 client written on
   asyncio streams (a floor for any asyncio client: about a third of aiohttp's CPU per call), and the event loop's timers
   alone (asyncio.sleep of the latency, no HTTP). Where the minimal client stays under the target too, the rest of the
   gap is the server's and the machine's, not the client's.
4. With --profile: the 64-in-flight run under cProfile (client process only), the functions that take its CPU time.
Run: .venv/bin/python bench/teacher.py [--profile]
"""
import asyncio, cProfile, io, json, os, pstats, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault('HF_HUB_OFFLINE', '1')

from metamath_nb.config import TeacherConfig
from metamath_nb.gen_types import GenRequest
from metamath_nb.teacher import make_teacher
from metamath_nb.testserver import server_process, server_stats

LATENCY, SECONDS = 0.05, 3.0

def job(n, tag): return [GenRequest(prompt=f'{tag} question {i}: what is {i} + {i}?', seed=i, max_tokens=64) for i in range(n)]

def teacher(url, cache, in_flight):
    return make_teacher(TeacherConfig(backend='openai', model='bench', base_url=url, cache_path=str(cache),
                                      max_in_flight=in_flight, timeout_s=30), progress=False)

def profile(url, tmp, in_flight=64):
    "Where the client's CPU goes at `in_flight` calls in flight: cProfile's top functions by own time, grouped by layer"
    n = int(in_flight / LATENCY * SECONDS)
    t = teacher(url, tmp/'prof.sqlite', in_flight)
    pr = cProfile.Profile(); c0 = time.process_time(); t0 = time.perf_counter()
    pr.enable(); t.generate(job(n, 'prof')); pr.disable()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    st = pstats.Stats(pr); layers = {}
    for (file, _, fn), (cc, nc, tt, ct, _) in st.stats.items():
        f = file.replace('\\', '/')
        layer = next((k for k in ('aiohttp', 'asyncio', 'sqlite3', 'json', 'tqdm', 'metamath_nb', 'yarl', 'multidict', 'selectors', 'ssl') if k in f or k in fn), 'other')
        layers[layer] = layers.get(layer, 0.0) + tt
    print(f"profile in_flight={in_flight}: {n} calls, {n / dt:.1f} req/s (fraction {n / dt / (in_flight / LATENCY):.3f} under the profiler), "
          f"client cpu {cpu / n * 1e3:.3f} ms per call, {cpu / dt:.2f} cores busy")
    tot = sum(layers.values())
    print("  own time by layer: " + ", ".join(f"{k} {v / tot:.0%}" for k, v in sorted(layers.items(), key=lambda kv: -kv[1])))
    out = io.StringIO(); pstats.Stats(pr, stream=out).sort_stats('tottime').print_stats(12)
    print('\n'.join(l for l in out.getvalue().splitlines() if l.strip())[-2400:])

async def _bare_aiohttp(url, n, in_flight):
    "The bench's posts through aiohttp alone, `in_flight` workers on one session"
    import aiohttp
    todo = iter(range(n))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight), timeout=aiohttp.ClientTimeout(total=30)) as s:
        async def worker():
            for i in todo:
                body = json.dumps({'model': 'bench', 'prompt': f'bare question {i}', 'max_tokens': 64, 'seed': i}).encode()
                async with s.post(url + '/completions', data=body, headers={'Content-Type': 'application/json'}) as r:
                    assert r.status == 200; json.loads(await r.read())
        await asyncio.gather(*(worker() for _ in range(in_flight)))

async def _minimal_client(url, n, in_flight):
    "The same posts as HTTP/1.1 written by hand on asyncio streams, one keep-alive connection per worker"
    host, port = url.split('//')[1].split('/')[0].split(':')
    todo = iter(range(n))
    async def worker():
        reader, writer = await asyncio.open_connection(host, int(port))
        for i in todo:
            body = json.dumps({'model': 'bench', 'prompt': f'minimal question {i}', 'max_tokens': 64, 'seed': i}).encode()
            writer.write(b'POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n'
                         % (host.encode(), len(body)) + body)
            head = (await reader.readuntil(b'\r\n\r\n')).decode('latin-1').lower()
            assert head.startswith('http/1.1 200')
            size = int(head.split('content-length:')[1].split('\r\n')[0])
            json.loads(await reader.readexactly(size))
        writer.close()
    await asyncio.gather(*(worker() for _ in range(in_flight)))

async def _timers_only(n, in_flight):
    "No HTTP: `in_flight` tasks sleeping the latency, `n` sleeps in all"
    todo = iter(range(n))
    async def worker():
        for _ in todo: await asyncio.sleep(LATENCY)
    await asyncio.gather(*(worker() for _ in range(in_flight)))

def references(url, in_flight=64):
    "The fraction of the ideal that bare aiohttp, a minimal client and the timers alone reach against the same server"
    n, ideal = int(in_flight / LATENCY * SECONDS), in_flight / LATENCY
    for name, make in (('bare aiohttp', lambda: _bare_aiohttp(url, n, in_flight)), ('minimal client', lambda: _minimal_client(url, n, in_flight)),
                       ('timers only', lambda: _timers_only(n, in_flight))):
        s0 = server_stats(url)['process_cpu_s']
        t0, c0 = time.perf_counter(), time.process_time(); asyncio.run(make())
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        scpu = (server_stats(url)['process_cpu_s'] - s0) / n * 1e3
        print(f"reference   in_flight={in_flight:3d}  calls={n:5d}  {n / dt:7.1f} req/s  ideal {ideal:6.0f}  fraction {n / dt / ideal:.3f}"
              f"  cpu per call: client {cpu / n * 1e3:.3f} ms, server {scpu:.3f} ms  ({name})")

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
        references(url)
        if '--profile' in sys.argv: profile(url, tmp)
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

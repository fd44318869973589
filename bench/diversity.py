"""Diversity gain at the paper's scale: 20,000 new against 80,000 base points at 1,536 dimensions (ada-002's size),
as Figure 4 measures 20K rows of one augmentation against the 80K AnsAug base set. Random unit vectors (float32, as an
embedder returns them; seeded). Printed: wall time, the process' peak resident memory (the 100,000 x 1,536 float32
inputs alone take 586 MiB of it) and the memory added by the computation; the bar is under 2 minutes and 4 GB on 2
CPU cores. Then a smaller case checked against a brute-force NumPy reference (float64, every pair) to 1e-6.

  python bench/diversity.py                       # 20,000 x 80,000 x 1,536, then the reference check
  python bench/diversity.py --new 2000 --base 8000 --dim 256 --chunk 1024
"""
import argparse, json, os, resource, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
from metamath_nb.diversity import diversity_gain

def rss_mib() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10

def unit(n, dim, rng):
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)

def brute(new, base, chunk=256) -> float:
    "The formula itself: every pair's squared distance in float64, the minimum per new point, the mean"
    b = base.astype(np.float64)
    mins = [((new[s:s + chunk, None, :].astype(np.float64) - b[None]) ** 2).sum(-1).min(1) for s in range(0, len(new), chunk)]
    return float(np.concatenate(mins).mean())

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--new', type=int, default=20_000); ap.add_argument('--base', type=int, default=80_000)
    ap.add_argument('--dim', type=int, default=1536); ap.add_argument('--chunk', type=int, default=2048)
    ap.add_argument('--check-new', type=int, default=500); ap.add_argument('--check-base', type=int, default=2000)
    ap.add_argument('--json')
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    base, new = unit(a.base, a.dim, rng), unit(a.new, a.dim, rng)
    before = rss_mib()
    t = time.perf_counter(); g = diversity_gain(new, base, a.chunk); wall = time.perf_counter() - t
    peak = rss_mib()
    print(f"{a.new:,} new x {a.base:,} base x {a.dim} dims, chunks of {a.chunk} on {os.cpu_count()} cores: gain {g:.6f}, "
          f"{wall:.1f} s, peak memory {peak:,.0f} MiB ({peak - before:,.0f} MiB beyond the inputs)", flush=True)
    ok_speed = wall < 120 and peak < 4096
    print(f"bar (under 120 s and 4,096 MiB): {'met' if ok_speed else 'NOT met'}")
    # the reference: a smaller case, the formula computed directly
    cb, cn = unit(a.check_base, a.dim, rng), unit(a.check_new, a.dim, rng)
    cn[:50] = cb[:50]                                    # some new points equal to base points (distance 0)
    cn[50:100] = cb[50:100] + 0.01 * unit(50, a.dim, rng)   # some close to one
    ours, ref = diversity_gain(cn, cb, 128), brute(cn, cb)
    print(f"reference check ({a.check_new} x {a.check_base} x {a.dim}): ours {ours:.9f}, brute force {ref:.9f}, |diff| {abs(ours - ref):.2e}"
          f" ({'within' if abs(ours - ref) <= 1e-6 else 'NOT within'} 1e-6)")
    if a.json: Path(a.json).write_text(json.dumps({'new': a.new, 'base': a.base, 'dim': a.dim, 'gain': g, 'wall_s': round(wall, 2),
                                                   'peak_mib': round(peak), 'check_diff': abs(ours - ref)}, indent=2))
    sys.exit(0 if ok_speed and abs(ours - ref) <= 1e-6 else 1)

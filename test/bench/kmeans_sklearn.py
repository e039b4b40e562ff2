"""k-means reference for `make bench`: scikit-learn's KMeans on the same data.

Usage: kmeans_sklearn.py <features.csv> <k> <n_init> <max_iter> <tol> <runs> <iter_lo> <iter_hi> [threads]

The CSV has one row per customer and one column per feature, unscaled (the
bench's kmeans_features table).  The features are z-scored with StandardScaler,
as segment.kmeans does, and KMeans(algorithm="lloyd", init="k-means++",
random_state=0) is fitted on them:
  total:      the given n_init, max_iter and tol (median of runs)
  iteration:  n_init=1, tol=0, max_iter iter_lo against iter_hi, so that the
              difference divided by (iter_hi - iter_lo) is the cost of one Lloyd
              iteration without the seeding and the setup.
With "threads" the OpenMP pool (the one KMeans uses) is limited to that many.
Prints "key value" lines; peak_rss_kb is the whole process, data included.
"""
import os
import resource
import statistics
import sys
import time

csv, k, n_init, max_iter, tol, runs, iter_lo, iter_hi = sys.argv[1:9]
threads = int(sys.argv[9]) if len(sys.argv) > 9 else None
if threads is not None:
    # before numpy/sklearn start their pools; threadpool_limits below as well,
    # for runtimes that read the variable only once
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_limits

k, n_init, max_iter, runs = int(k), int(n_init), int(max_iter), int(runs)
tol, iter_lo, iter_hi = float(tol), int(iter_lo), int(iter_hi)


def rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def fit(x, n_init, max_iter, tol):
    km = KMeans(n_clusters=k, algorithm="lloyd", init="k-means++", n_init=n_init,
                max_iter=max_iter, tol=tol, random_state=0)
    t0 = time.perf_counter()
    km.fit(x)
    return (time.perf_counter() - t0) * 1000.0, km


def main():
    t0 = time.perf_counter()
    raw = np.loadtxt(csv, delimiter=",", dtype=np.float64, ndmin=2)
    print(f"load_ms {(time.perf_counter() - t0) * 1000.0:.1f}")
    t0 = time.perf_counter()
    x = StandardScaler().fit_transform(raw)
    print(f"scale_ms {(time.perf_counter() - t0) * 1000.0:.1f}")
    del raw
    print(f"sklearn {sklearn.__version__} rows {x.shape[0]} dims {x.shape[1]} "
          f"threads {_openmp_effective_n_threads()}")
    print(f"data_rss_kb {rss_kb()}")

    totals = []
    for _ in range(runs):
        ms, km = fit(x, n_init, max_iter, tol)
        totals.append(ms)
        print(f"run_ms {ms:.1f} inertia {km.inertia_!r} n_iter {km.n_iter_}")
    print(f"total_ms {statistics.median(totals):.1f}")
    print(f"inertia {km.inertia_!r}")
    print(f"n_iter {km.n_iter_}")

    lo, hi = [], []
    for _ in range(runs):
        ms, km_lo = fit(x, 1, iter_lo, 0.0)
        lo.append(ms)
        ms, km_hi = fit(x, 1, iter_hi, 0.0)
        hi.append(ms)
        print(f"iter_run_ms {lo[-1]:.1f} {hi[-1]:.1f} n_iter {km_lo.n_iter_} {km_hi.n_iter_}")
    # the hi run may stop early when no label changes; divide by what it ran
    done = km_hi.n_iter_ - km_lo.n_iter_
    print(f"iter_n_iter {km_lo.n_iter_} {km_hi.n_iter_}")
    print(f"per_iter_ms {(statistics.median(hi) - statistics.median(lo)) / max(done, 1):.3f}")
    print(f"peak_rss_kb {rss_kb()}")


if threads is not None:
    with threadpool_limits(limits=threads):
        main()
else:
    main()

"""BG/NBD and Gamma-Gamma reference for `make bench`: SciPy's BFGS on the same summaries.

Usage: btyd_scipy.py <summary.csv>

The CSV has one row per customer: x,t_x,T,mean_value (mean_value empty when
there is none), as segment.customer_summary gives them.  The negative
log-likelihoods are the models' (Fader, Hardie & Lee 2005) written with NumPy
over in-memory arrays, minimized over the parameters' logarithms by
scipy.optimize.minimize(method="BFGS") with its numerical gradient, from all
parameters at 1 (Gamma-Gamma's scale at the mean spend: from 1 its BFGS runs
away): what a data scientist would run.  Only the fits are timed.
Prints "key value" lines; peak_rss_kb is the whole process, data included.
"""
import resource
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

data = np.genfromtxt(sys.argv[1], delimiter=",", filling_values=np.nan)
x, t_x, T, mean_value = data[:, 0], data[:, 1], data[:, 2], data[:, 3]
evaluations = {"bgnbd": 0, "gammagamma": 0}


def bgnbd_nll(log_params):
    evaluations["bgnbd"] += 1
    r, alpha, a, b = np.exp(log_params)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return -np.sum(a1 + a2 + np.logaddexp(a3, a4))


repeat = (x > 0) & np.isfinite(mean_value) & (mean_value > 0)
gx, gm = x[repeat], mean_value[repeat]


def gammagamma_nll(log_params):
    evaluations["gammagamma"] += 1
    p, q, v = np.exp(log_params)
    return -np.sum(gammaln(p * gx + q) - gammaln(p * gx) - gammaln(q) + q * np.log(v)
                   + (p * gx - 1) * np.log(gm) + p * gx * np.log(gx) - (p * gx + q) * np.log(v + gx * gm))


start = time.perf_counter()
fit = minimize(bgnbd_nll, np.zeros(4), method="BFGS")
bgnbd_ms = (time.perf_counter() - start) * 1000
start = time.perf_counter()
gg = minimize(gammagamma_nll, np.log([1.0, 1.0, np.mean(gm)]), method="BFGS")
gg_ms = (time.perf_counter() - start) * 1000

print("customers", len(x))
print("bgnbd_ms %.1f" % bgnbd_ms)
print("bgnbd_evaluations", evaluations["bgnbd"])
print("bgnbd_params " + " ".join("%.10g" % v for v in np.exp(fit.x)))
print("bgnbd_log_likelihood %.10g" % -fit.fun)
print("bgnbd_converged", bool(fit.success))
print("gammagamma_ms %.1f" % gg_ms)
print("gammagamma_evaluations", evaluations["gammagamma"])
print("gammagamma_params " + " ".join("%.10g" % v for v in np.exp(gg.x)))
print("gammagamma_converged", bool(gg.success))
print("peak_rss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

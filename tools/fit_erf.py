"""The float erf's polynomial coefficients in ops/kernels/elementwise_impl.h (vector GELU): least-squares
fits on 4000 Chebyshev nodes, printed with the worst absolute error of their float Horner evaluation
against math.erf over 200001 points. Run with Debian's /usr/bin/python3 (numpy).

    erf(x) = x * P(t),  t = 2x^2 - 1,            0 <= x <= 1     (P of degree 6)
    erf(x) = Q_k(t),    t = (x - mid_k)/half_k,   [1, 2.5), [2.5, 4)  (Q of degree 9)
"""
import numpy as np
from math import erf
verf = np.vectorize(erf)
N = 4000
def cheb_fit_power(f, a, b, deg):
    """least squares on Chebyshev nodes of [a, b] in t = (x - mid)/half; power-basis coefficients in t"""
    t = np.cos(np.pi * (np.arange(N) + 0.5) / N)
    x = (a + b) / 2 + (b - a) / 2 * t
    c = np.polynomial.chebyshev.chebfit(t, f(x), deg)
    return np.polynomial.chebyshev.cheb2poly(c)
def horner32(coef, t):
    p = np.float32(coef[-1])
    for c in coef[-2::-1]:
        p = (p * t + np.float32(c)).astype(np.float32)
    return p
# small: erf(x) = x * P(x^2) on [0, 1]: g(u) = erf(sqrt u)/sqrt u, u in [0, 1], t = 2u - 1
g = lambda u: np.where(u > 0, verf(np.sqrt(np.maximum(u, 1e-300))) / np.sqrt(np.maximum(u, 1e-300)), 2 / np.sqrt(np.pi))
small = cheb_fit_power(g, 0, 1, 6)
xs = np.linspace(0, 1, 200001).astype(np.float32)
u = (xs * xs).astype(np.float32)
t = (u * np.float32(2) - np.float32(1)).astype(np.float32)
ys = (xs * horner32(small, t)).astype(np.float32)
print("small max abs err", np.max(np.abs(ys.astype(np.float64) - verf(xs.astype(np.float64)))))
pieces = [(1.0, 2.5), (2.5, 4.0)]
big = []
for (a, b) in pieces:
    c = cheb_fit_power(verf, a, b, 9)
    big.append(c)
    xb = np.linspace(a, b, 200001).astype(np.float32)
    tb = ((xb - np.float32((a + b) / 2)) * np.float32(2 / (b - a))).astype(np.float32)
    yb = horner32(c, tb)
    print((a, b), "max abs err", np.max(np.abs(yb.astype(np.float64) - verf(xb.astype(np.float64)))))
def fmt(v): return ", ".join("%.9gf" % x for x in v)
print("small", fmt(small))
for c in big: print("big", fmt(c))

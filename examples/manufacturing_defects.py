"""Is a filling machine in control? Nonconforming cans in 30 samples of 50.

Montgomery's orange-juice data (binfer.datasets.load("orange_juice")): every half hour 50 cans
were inspected for leaking seams. A process "in control" makes every sample Bin(50, p) with one
p: exactly the homogeneity hypothesis. The classical p chart uses 3-sigma normal limits; the
exact binomial limits from binfer's core say what a false-alarm rate of 0.27% really needs at
n = 50, and the homogeneity tests judge all 30 samples at once instead of one at a time.
"""

import numpy as np

import binfer

cans = binfer.datasets.load("orange_juice")
pooled = binfer.pooled_proportion(cans, method="clopper-pearson")
p = pooled.estimate
low, high = pooled.confidence_interval
print(f"{pooled.n_events} nonconforming of {pooled.n_trials} cans: p-bar {p:.4f} "
      f"(95% CI {low:.4f} to {high:.4f})")

# Control limits for one sample of 50: 3-sigma (Shewhart) against exact binomial quantiles with
# the same nominal two-sided false-alarm rate, 0.27%.
sigma = np.sqrt(p * (1 - p) / 50)
print(f"3-sigma limits: {p - 3 * sigma:.4f} to {p + 3 * sigma:.4f}")
in_control = binfer.Binomial(50, p)
lo_count, hi_count = in_control.ppf([0.00135, 1 - 0.00135])
print(f"exact limits: {lo_count:.0f} to {hi_count:.0f} cans of 50 "
      f"({lo_count / 50:.2f} to {hi_count / 50:.2f})")
above = cans.loc[cans["events"] > hi_count, ["group", "events"]]
print(f"samples above the exact upper limit: {above['group'].tolist()} "
      f"with {above['events'].tolist()} nonconforming cans")
# P(a sample of an in-control process shows >= 24 bad cans): the evidence against sample 23.
print(f"P(>= 24 of 50 | in control) = {in_control.sf(23):.3g}")

# All samples at once: is p common to all 30?
for method in ("pearson", "exact"):
    test = binfer.homogeneity_test(cans, method=method, random_state=1, progress=False)
    extra = f" (Monte Carlo SE {test.pvalue_mcse:.1g})" if test.pvalue_mcse else ""
    print(f"homogeneity, {test.method}: p = {test.pvalue:.3g}{extra}")
print(f"Tarone's overdispersion test: p = {binfer.tarone_test(cans).pvalue:.3g}")

# Montgomery traces samples 15 and 23 to assignable causes (a new batch of cardboard, an
# inexperienced operator). Without them, is the rest of the process homogeneous?
rest = cans[~cans["group"].isin(["15", "23"])]
test = binfer.homogeneity_test(rest, method="exact", random_state=1, progress=False)
extra = f" (Monte Carlo SE {test.pvalue_mcse:.1g})" if test.pvalue_mcse else ""
p_rest = rest["events"].sum() / rest["trials"].sum()
print(f"without samples 15 and 23: p-bar {p_rest:.4f}, "
      f"exact homogeneity p = {test.pvalue:.3g}{extra}")
revised_ucl = p_rest + 3 * np.sqrt(p_rest * (1 - p_rest) / 50)
print(f"revised 3-sigma upper limit {revised_ucl:.4f}: above it "
      f"{rest.loc[rest['events'] / 50 > revised_ucl, 'group'].tolist()}")
bb = binfer.beta_binomial(rest)
print(f"beta-binomial intra-class correlation {bb.rho:.4f} (LRT p = {bb.lrt_pvalue:.3g})")

# Reading: samples 15 and 23 exceed both the 3-sigma and the exact limits. But the process is
# not in control without them either: the remaining 28 samples still reject a common p (exact
# test, Monte Carlo p around 0.001) and the beta-binomial finds extra-binomial variation
# (intra-class correlation about 0.02, LRT p about 0.001). Sample 21 (20 of 50) lies above the
# revised 3-sigma limit and samples 21-24 all run high: a drift that a chart read one sample at a
# time is slow to flag, and that limits computed from these samples would hide.

"""Quick start: is the total number of deaths across 12 hospitals binomial?

Data: mortality after cardiac surgery in 12 hospitals (the BUGS "surgical" example,
binfer.datasets.load("surgical")).  If every hospital had the same death rate p, the total would be
Bin(N, p) (the additive property of binomials).  With hospital-specific rates it is a
Poisson-binomial whose variance falls short of that binomial's by sum_g n_g (p_g - pbar)^2.
"""

import numpy as np

import binfer

data = binfer.datasets.load("surgical")
events, trials = data["events"].to_numpy(), data["trials"].to_numpy()

print("Cardiac surgery mortality in 12 hospitals (BUGS 'surgical')")
pooled = binfer.pooled_proportion(data, method="clopper-pearson")
low, high = pooled.confidence_interval
print(f"  deaths {pooled.n_events} of {pooled.n_trials} operations: pooled rate "
      f"{pooled.estimate:.4f} (95% Clopper-Pearson CI {low:.4f} to {high:.4f})")

# Is the death rate common?  Pearson chi-square and the exact conditional test (with a
# Monte Carlo fallback whose standard error is reported) on the 12 x 2 table.
pearson = binfer.homogeneity_test(data)
print(f"  homogeneity (Pearson): X2 = {pearson.statistic:.2f} on {pearson.df} df,"
      f" p = {pearson.pvalue:.2g}")
exact = binfer.homogeneity_test(data, method="exact", random_state=1, progress=False)
mcse = f" (Monte Carlo SE {exact.pvalue_mcse:.1g})" if exact.pvalue_mcse else ""
print(f"  homogeneity ({exact.method}): p = {exact.pvalue:.2g}{mcse}")
meta = binfer.meta_proportion(data, group="group")
print(f"  random-effects (REML, logit) mean rate {meta.proportion:.4f}, tau^2 = {meta.tau2:.3f},"
      f" I^2 = {meta.i2:.0%}, 95% prediction interval {meta.prediction_interval.low:.3f}"
      f" to {meta.prediction_interval.high:.3f}")

# The total under hospital-specific rates vs the binomial with the same N and mean.
X = binfer.PoissonBinomial(events / trials, counts=trials)
B = X.matching_binomial()
print(f"  total under hospital rates: {X}")
print(f"  matching binomial:          {B}")
print(f"  variance {X.var():.2f} vs {B.var():.2f}: deficit {X.variance_deficit():.2f}"
      " (= -sum n_g (p_g - pbar)^2)")
lo_x, hi_x = X.ppf([0.025, 0.975])
lo_b, hi_b = B.ppf([0.025, 0.975])
print(f"  central 95% range of the total: [{lo_x:.0f}, {hi_x:.0f}]"
      f" vs binomial [{lo_b:.0f}, {hi_b:.0f}]")
tv = 0.5 * np.abs(X.pmf_all() - B.pmf_all()).sum()
print(f"  total-variation distance between the two: {tv:.4f}")
print(f"  P(total >= 260): {X.sf(259):.3g} vs binomial {B.sf(259):.3g};"
      f" log P(total >= 400): {X.logsf(399):.1f} vs {B.logsf(399):.1f}")
print("Reading: the rates differ (tiny p-value), yet the total is nearly binomial: the deficit is")
print("small next to the variance, and only the far tails of the two distributions part ways.")

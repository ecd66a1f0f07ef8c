"""Server failures in two clusters: when is the total binomial, and what changes when it is not?

The seed's example: clusters of 12 and 18 servers, each server failing within 24 hours with
probability 0.04, independently. The total is Bin(12, 0.04) + Bin(18, 0.04) = Bin(30, 0.04):
monitoring the two clusters is the same as monitoring 30 servers. If the clusters differ (older
hardware in one), the total is a Poisson-binomial: same mean as some binomial, smaller variance.
Finally, a week of observed failures is used to ask whether the clusters share one p.
"""

import numpy as np
import pandas as pd

import binfer

# 1. A common p: the sum is one binomial, exactly.
total = binfer.Binomial(12, 0.04) + binfer.Binomial(18, 0.04)
print(f"Bin(12, 0.04) + Bin(18, 0.04) = {total}")
print(f"  P(no failure)      = {total.pmf(0):.4f}   (0.96^30 = {0.96**30:.4f})")
print(f"  P(3 or more fail)  = {total.sf(2):.4f}")
print(f"  on-call threshold: the 99th percentile of the total is {total.ppf(0.99):.0f} failures")

# 2. Unequal p: cluster 2 runs older hardware (p = 0.07), cluster 1 newer (p = 0.02).
mixed = binfer.Binomial(12, 0.02) + binfer.Binomial(18, 0.07)
same_mean = mixed.matching_binomial()
print(f"\nBin(12, 0.02) + Bin(18, 0.07) = {mixed}")
print(f"  matching binomial {same_mean}: same mean {mixed.mean():.2f}")
print(f"  variance {mixed.var():.4f} vs {same_mean.var():.4f}; deficit "
      f"{mixed.variance_deficit():.4f} = -sum n_g (p_g - pbar)^2")
k = np.arange(0, 7)
table = pd.DataFrame({"failures": k, "P (clusters differ)": mixed.pmf(k),
                      "P (binomial, same mean)": same_mean.pmf(k)})
print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
# Far tails are where the two part ways most: a pager rule "alert at >= 12 failures" fires at
# very different rates. log-probabilities stay finite however far out.
print(f"  P(>= 12 failures): {mixed.sf(11):.3g} (clusters differ) vs {same_mean.sf(11):.3g}")

# 3. A week of data: failures per cluster-day. Is p common to both clusters?
week = pd.DataFrame({"cluster": ["cluster 1"] * 7 + ["cluster 2"] * 7,
                     "events": [0, 1, 0, 0, 1, 0, 0, 2, 1, 3, 0, 1, 2, 1],
                     "trials": [12] * 7 + [18] * 7})
by_cluster = week.groupby("cluster", as_index=False)[["events", "trials"]].sum()
print("\nA week of failures:")
print(by_cluster.to_string(index=False))
test = binfer.homogeneity_test(by_cluster, method="exact")
print(f"  exact test of a common p: p-value {test.pvalue:.3f}")
pooled = binfer.pooled_proportion(by_cluster, method="wilson")
print(f"  pooled failure rate {pooled.estimate:.4f}, 95% CI "
      f"{pooled.confidence_interval.low:.4f} to {pooled.confidence_interval.high:.4f}")
# Reading: with 2 of 84 and 10 of 126 server-days failing, the exact test cannot tell the
# clusters apart at the 5% level; a week is too short to justify separate rates.

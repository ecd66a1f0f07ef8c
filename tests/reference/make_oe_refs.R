# Reference p-values for binfer.observed_vs_expected (tests/test_profiling_oe.py reads the CSV).
# Run from the repository root: Rscript tests/reference/make_oe_refs.R
# Needs PoissonBinomial (>= 1.2.5). method = "Convolve" is the exact recursive convolution,
# relatively accurate in the far tails (p-values below 1e-20 included).
library(PoissonBinomial)

designs <- list(
  linear40 = seq(0.05, 0.45, length.out = 40),
  rare200 = 0.001 + 0.02 * ((0:199) %% 17) / 16,
  mixed500 = c(rep(0.01, 200), rep(0.2, 200), rep(0.6, 100)),
  edges30 = c(0, 0, 1, seq(0.1, 0.9, length.out = 27))
)
obs <- list(linear40 = c(0, 3, 10, 17, 25, 40), rare200 = c(0, 2, 5, 20, 60, 150),
            mixed500 = c(20, 90, 105, 130, 250, 400), edges30 = c(1, 5, 16, 28))
rows <- list()
for (name in names(designs)) {
  p <- designs[[name]]
  d <- dpbinom(NULL, p, method = "Convolve", log = FALSE)
  for (o in obs[[name]]) {
    lle <- ppbinom(o, p, method = "Convolve", lower.tail = TRUE, log.p = TRUE)
    lge <- if (o == 0) 0 else ppbinom(o - 1, p, method = "Convolve", lower.tail = FALSE,
                                      log.p = TRUE)
    po <- d[o + 1]
    two <- if (po == 0) 0 else min(1, sum(d[d <= po * (1 + 1e-7)]))
    E <- sum(p)
    pt <- poisson.test(o, E)
    rows[[length(rows) + 1]] <- data.frame(
      design = name, observed = o, expected = E, log_less = lle, log_greater = lge,
      log_pmf = log(po), two_sided_minlike = two,
      poisson_low = pt$conf.int[1], poisson_high = pt$conf.int[2], poisson_p = pt$p.value)
  }
}
out <- do.call(rbind, rows)
write.csv(out, "tests/reference/oe_refs.csv", row.names = FALSE)
cat(sprintf("R %s, PoissonBinomial %s: %d rows\n", getRversion(),
            packageVersion("PoissonBinomial"), nrow(out)))

#!/usr/bin/env Rscript
# Reference values from R (stats::dbinom/pbinom) and CRAN PoissonBinomial,
# independent of binfer.
#
# Run from the project root:   Rscript tests/reference/make_core_refs.R
#
# Writes (next to this script):
#   core_refs_R.csv          columns case,n,p,k,value,what
#   pb5000_p.csv             the 5000 probabilities of case "pb5000" (column "p",
#                            %.17g, round-trips exactly to the R doubles)
#   core_refs_R_session.txt  sessionInfo() and package versions
#
# Conventions: value = natural log, printed with format(x, digits = 17);
# "-inf" for log(0).  sf(k) = P(X > k) (pbinom lower.tail = FALSE),
# cdf(k) = P(X <= k).  For the binomial rows p is written with the shortest
# decimal string that round-trips to the double used; for pb5000 rows p is empty.
#
# what = binom_logpmf | binom_logcdf | binom_logsf   (stats::dbinom / pbinom, log=TRUE)
#        pb_convolve_logpmf  log(dpbinom(NULL, probs, method = "Convolve")),
#                            only k with dpbinom > 1e-300
#        pb_convolve_logsf   ppbinom(NULL, probs, method = "Convolve",
#                            lower.tail = FALSE, log.p = TRUE),
#                            only k where finite and > -690
#
# Accuracy notes -- FINDINGS from running this script (R 4.2.2, PoissonBinomial
# 1.2.5), the checks printed at the end of this script, and an off-line
# comparison against mpmath (dps 40-50, exact DP / exact binomial sums):
#   * ppbinom(..., method = "Convolve", lower.tail = FALSE) is NOT formed as
#     1 - cdf: it agrees with a direct small-to-large sum of dpbinom over the
#     upper tail to <= 5.6e-14 relative for every kept k (values down to
#     ~1e-300 are fine; ppbinom even returns subnormals down to ~1e-323).
#     Against mpmath, pb_convolve_logsf and pb_convolve_logpmf have absolute
#     error in log scale (= relative error in probability) <= 5.8e-14
#     (median ~5e-15), growing slowly into the deep tails.
#   * BUT log.p = TRUE is just log() of the double result.  Where sf is close
#     to 1 (k below the mean) the log is quantised: for pb5000, logsf is
#     exactly 0 for k <= 2287 and then -1.11e-16, -2.22e-16, ... even though the
#     true values are e.g. -2.3e-16 (k = 2287) and astronomically small for
#     smaller k.  So pb_convolve_logsf rows are only good to ~1e-16 ABSOLUTE in
#     log scale; compare them with an absolute tolerance, never a relative one
#     on the log value.  Similarly pb_convolve_logpmf is limited to pmf > 1e-300.
#   * stats::pbinom(log.p = TRUE) is computed properly in log scale (TOMS 708):
#     relative error of the log value <= 1.1e-13 at all checked points,
#     including tiny values like logsf(0; 1000, 0.3) = -1.25e-155; values whose
#     magnitude is below the double range come out as 0 or subnormal, correctly.
#   * stats::dbinom(log = TRUE) in R 4.2.2 is less accurate than one might
#     expect: relative error of the probability up to 2.3e-12 at
#     (n = 1e5, p = 0.999999, k = n-1)  [R -2.4025841429654236 vs true
#     -2.4025841429676989], and 2e-14..5e-13 (mean +-1 sd .. +-40 sd) for
#     n = 1e6, p = 0.3 and in the tails of n = 1e5, p = 0.999999.  Use a
#     tolerance like |diff| <= 1e-11 * max(1, |value|) for the binom_logpmf
#     rows, or the mpmath values in core_refs.json where tighter checks matter.

suppressPackageStartupMessages(library(PoissonBinomial))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"

fmt_val <- function(x) {
  s <- vapply(seq_along(x), function(i) format(x[i], digits = 17, trim = TRUE), "")
  s[is.infinite(x) & x < 0] <- "-inf"
  s[is.infinite(x) & x > 0] <- "inf"
  s[is.nan(x)] <- "nan"
  s
}
fmt_p <- function(p) {   # shortest round-tripping decimal
  for (d in 15:17) {
    s <- formatC(p, digits = d, format = "g")
    if (as.numeric(s) == p) return(trimws(s))
  }
  stop("no round trip")
}
fmt_int <- function(k) formatC(k, format = "d", big.mark = "")

rows <- list()
add_rows <- function(case, n, pstr, k, value, what) {
  rows[[length(rows) + 1]] <<- data.frame(
    case = case, n = fmt_int(n), p = pstr, k = fmt_int(k),
    value = fmt_val(value), what = what, stringsAsFactors = FALSE)
}

# ------------------------------------------------------------------ binomial
binom_cases <- list(c(30, 0.04), c(1000, 0.3), c(1e6, 0.3), c(1e6, 1e-7),
                    c(1e5, 0.999999), c(50, 0.5))
kgrid <- function(n, p) {
  mu <- n * p; sd <- sqrt(n * p * (1 - p))
  k <- c(0, 1, 2, 5, mu + c(-40, -20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20, 40) * sd,
         n / 2, n - 5, n - 2, n - 1, n)
  k <- sort(unique(pmin(pmax(round(k), 0), n)))
  if (length(k) < 15) {     # small-sd cases: pad with an even spread
    k <- sort(unique(c(k, round(seq(0, n, length.out = 15 - length(k) + 2)))))
  }
  k
}
for (np in binom_cases) {
  n <- np[1]; p <- np[2]
  k <- kgrid(n, p)
  case <- sprintf("binom_n%s_p%s", fmt_int(n), fmt_p(p))
  ps <- fmt_p(p)
  add_rows(case, n, ps, k, dbinom(k, n, p, log = TRUE), "binom_logpmf")
  add_rows(case, n, ps, k, pbinom(k, n, p, lower.tail = TRUE, log.p = TRUE), "binom_logcdf")
  add_rows(case, n, ps, k, pbinom(k, n, p, lower.tail = FALSE, log.p = TRUE), "binom_logsf")
  cat(sprintf("%s: %d k values\n", case, length(k)))
}

# ------------------------------------------------------------------ Poisson-binomial, N = 5000
set.seed(5)
probs <- runif(5000)
writeLines(c("p", sprintf("%.17g", probs)), file.path(outdir, "pb5000_p.csv"))
stopifnot(all(as.numeric(sprintf("%.17g", probs)) == probs))
N <- length(probs)
kk <- 0:N

d <- dpbinom(NULL, probs, method = "Convolve")
keep <- d > 1e-300
add_rows("pb5000", N, "", kk[keep], log(d[keep]), "pb_convolve_logpmf")
cat(sprintf("pb5000 pmf: sum = %.17g, %d of %d k kept (pmf > 1e-300)\n",
            sum(d), sum(keep), N + 1))

lsf <- ppbinom(NULL, probs, method = "Convolve", lower.tail = FALSE, log.p = TRUE)
keep2 <- is.finite(lsf) & lsf > -690
add_rows("pb5000", N, "", kk[keep2], lsf[keep2], "pb_convolve_logsf")
cat(sprintf("pb5000 logsf: %d of %d k kept (finite, > -690)\n", sum(keep2), N + 1))

out <- do.call(rbind, rows)
write.csv(out, file.path(outdir, "core_refs_R.csv"), row.names = FALSE, quote = FALSE)
cat(sprintf("wrote %d rows\n", nrow(out)))

# ------------------------------------------------------------------ accuracy checks
# Is the upper tail of ppbinom(..., lower.tail = FALSE) computed accurately,
# or as 1 - cdf?  Compare with a direct small-to-large sum of dpbinom.
sf_direct <- function(k) { v <- d[(k + 2):(N + 1)]; sum(rev(sort(v, decreasing = TRUE))) }
cat("upper-tail check (k, ppbinom lower.tail=FALSE, direct sum of dpbinom, rel.diff):\n")
kchk <- c(2400, 2500, 2600, 2700, 2800, 2900, 3000, 3100, 3200, 3300)
kchk <- kchk[kchk < N]
for (k in kchk) {
  a <- exp(lsf[k + 1]); b <- sf_direct(k)
  cat(sprintf("  %5d  %.17g  %.17g  %.3g\n", k, a, b, if (b > 0) abs(a - b) / b else NA))
}
sf_plain <- ppbinom(NULL, probs, method = "Convolve", lower.tail = FALSE)
cdf_plain <- ppbinom(NULL, probs, method = "Convolve", lower.tail = TRUE)
cat(sprintf("smallest positive sf from ppbinom: %.3g ; smallest 1-cdf > 0: %.3g\n",
            min(sf_plain[sf_plain > 0]), min((1 - cdf_plain)[(1 - cdf_plain) > 0])))
all_rel <- sapply(which(keep2) - 1, function(k) {
  if (k >= N) return(NA); b <- sf_direct(k); abs(exp(lsf[k + 1]) - b) / b })
cat(sprintf("max rel diff ppbinom-upper vs direct sum over all kept k: %.3g\n",
            max(all_rel, na.rm = TRUE)))
cat(sprintf("stats::pbinom(.., log.p=TRUE) sanity: pbinom(0, 1e6, 0.3, FALSE, TRUE) = %.17g\n",
            pbinom(0, 1e6, 0.3, lower.tail = FALSE, log.p = TRUE)))

# ------------------------------------------------------------------ session
si <- capture.output(sessionInfo())
writeLines(c(
  "# Session used by make_core_refs.R to produce core_refs_R.csv and pb5000_p.csv",
  sprintf("# generated: %s", format(Sys.time(), tz = "UTC", usetz = TRUE)),
  sprintf("# R: %s", R.version.string),
  sprintf("# PoissonBinomial: %s", as.character(packageVersion("PoissonBinomial"))),
  sprintf("# RNG: %s", paste(RNGkind(), collapse = ", ")),
  "", si), file.path(outdir, "core_refs_R_session.txt"))

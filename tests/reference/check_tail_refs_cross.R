#!/usr/bin/env Rscript
# Extra consistency checks of tail_refs.csv at N = 1e5 (where no exact DP is
# affordable).  Run from the project root after make_tail_refs.R:
#   Rscript tests/reference/check_tail_refs_cross.R        # ~1 min, 6 convolutions
# (1) the tilted method at k = 53227 and 46774 (about mean +- 25 sd, where the
#     plain Convolve pmf is > 1e-300) vs large_refs_N100000.csv (plain
#     dpbinom/ppbinom "Convolve", made by make_large_refs.R);
# (2) the z = +-40 rows of tail_refs.csv recomputed with a deliberately
#     off-centre tilt (theta solved for mean + 39 sd / mean + 41 sd, resp. the
#     mirror images), i.e. reading P' about one sd away from its centre.
# Same formulas as make_tail_refs.R.  Stops if any |log difference| > 1e-11.

suppressPackageStartupMessages(library(PoissonBinomial))
args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
dir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"

csum <- function(x) {
  s <- 0; c <- 0
  for (v in x) {
    t <- s + v
    if (abs(s) >= abs(v)) c <- c + ((s - t) + v) else c <- c + ((v - t) + s)
    s <- t
  }
  s + c
}
solve_theta <- function(a, k) {
  th <- uniroot(function(th) sum(plogis(a + th)) - k, c(-60, 60),
                tol = 1e-14, maxiter = 10000)$root
  for (it in 1:3) {
    pt <- plogis(a + th)
    th <- th - (sum(pt) - k) / sum(pt * (1 - pt))
  }
  th
}
# log pmf, log cdf, log sf at k, using tilt theta (any theta)
tilted_at <- function(p, k, th) {
  pt <- plogis(qlogis(p) + th)
  Pp <- dpbinom(NULL, pt, method = "Convolve")
  qt <- 1 - pt; q <- 1 - p
  off <- -csum(pt * log(pt / p) + qt * log(qt / q)) + th * csum(c(-k, pt))
  # = lognorm(theta) - theta*k for ANY theta and k (the residual sum(pt) - k
  # need not be small)
  j <- 0:length(p)
  c(logpmf = log(Pp[k + 1]) + off,
    logcdf = log(sum(Pp[j <= k] * exp(th * (k - j[j <= k])))) + off,
    logsf  = log(sum(Pp[j > k] * exp(-th * (j[j > k] - k)))) + off)
}

N <- 1e5
p <- (as.double(seq_len(N)) * 0.6180339887498949) %% 1
a <- qlogis(p)
mu <- sum(p); sd <- sqrt(sum(p * (1 - p)))
worst <- 0

large <- read.csv(file.path(dir, "large_refs_N100000.csv"))
for (k in c(53227, 46774)) {
  r <- tilted_at(p, k, solve_theta(a, k))
  ref <- large[large$k == k, ]
  which <- if (k > mu) "logsf" else "logcdf"
  d <- c(r[["logpmf"]] - ref$logpmf, r[[which]] - ref[[which]])
  worst <- max(worst, abs(d))
  cat(sprintf("(1) k=%d  tilted logpmf=%.15g (large_refs %.15g, diff %+.2e)  %s diff %+.2e\n",
              k, r[["logpmf"]], ref$logpmf, d[1], which, d[2]))
}

tail <- read.csv(file.path(dir, "tail_refs.csv"))
for (z in c(40, -40)) {
  row <- tail[tail$N == N & tail$z == z, ]
  k <- row$k
  for (zt in c(z - 1, z + 1)) {
    kt <- mu + zt * sd                     # tilt centre (need not be an integer)
    th <- solve_theta(a, kt)
    r <- tilted_at(p, k, th)
    which <- if (z > 0) "logsf" else "logcdf"
    d <- c(r[["logpmf"]] - row$logpmf, r[[which]] - row[[which]])
    worst <- max(worst, abs(d))
    cat(sprintf("(2) z=%+d k=%d, tilt centred at %+d sd (theta=%.6f): dlogpmf %+.2e  d%s %+.2e\n",
                z, k, zt, th, d[1], which, d[2]))
  }
}
cat(sprintf("max |log diff| = %.3e\n", worst))
stopifnot(worst < 1e-11)

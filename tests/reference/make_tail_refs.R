#!/usr/bin/env Rscript
# Far-tail Poisson-binomial reference values BELOW double-precision range
# (log P down to about -900), independent of binfer.
#
# Method: exponential tilting + exact direct convolution, as in Peres, Lee &
# Keich (2021), "Exactly computing the tail of the Poisson-binomial
# distribution".  For a target k, choose theta with
#     sum(pt) == k,   pt = plogis(qlogis(p) + theta)  (= p e^theta / (q + p e^theta)),
# compute the tilted PMF  P'  = dpbinom(NULL, pt, method = "Convolve")
# (CRAN PoissonBinomial, O(N^2) direct convolution of non-negative terms, so
# each entry has a small *relative* error), and undo the tilt exactly:
#     P(j) = P'(j) * exp(-theta * j) * prod_i (q_i + p_i e^theta)
#     lognorm = sum_i log(q_i + p_i e^theta) = sum_i log1p(p_i * expm1(theta))
#     logpmf(k) = log(P'[k+1]) - theta*k + lognorm
#     upper points (theta > 0):
#       logsf(k)  = log(sum_{j>k}  P'[j+1] exp(-theta (j-k))) - theta*k + lognorm
#     lower points (theta < 0):
#       logcdf(k) = log(sum_{j<=k} P'[j+1] exp( theta (k-j))) - theta*k + lognorm
# The identity holds for ANY theta; theta only has to put the tilted mass near k.
#
# Accuracy of the offset  lognorm - theta*k  (the two parts are ~1e3..1e5 and
# cancel to ~ -800): evaluated literally, the rounding of theta*k and of the
# single expm1(theta) (which enters all N terms coherently) gave systematic
# errors of ~9e-13 at N = 1e4 (the Convolve value P'(k) itself was good to
# 6e-16).  So the script uses the equivalent "Kullback-Leibler form": with the
# exact tilt pt, log(q + p e^theta) - theta*pt = -KL(pt || p), hence
#     lognorm - theta*k = -sum_i KL_i - theta*(k - sum(pt)),
#     KL_i = pt_i log(pt_i/p_i) + qt_i log(qt_i/q_i),  qt = 1 - pt, q = 1 - p,
# a sum of non-negative terms (no cancellation; the last term is ~1e-12 and
# vanishes with an exact root; sum(pt) - k is Neumaier-summed starting from -k,
# since a rounded sum(pt) ~ k would carry an error of ~ulp(k)/2 ~ 4e-13).  It is stationary in each pt_i at the exact
# tilt (d/dpt_i = theta - theta = 0), so the rounding of the doubles pt_i only
# enters at second order -- and so does the mismatch between the double pt_i
# handed to the convolution and the exact tilt (checked: < 1e-18 at N = 1e4).
# The literal value is still computed and its difference is logged.
#
# Probabilities (bit-identical in R and Python):
#   R:      p <- (as.double(1:N) * 0.6180339887498949) %% 1
#   Python: p = (np.arange(1, N + 1, dtype=float) * 0.6180339887498949) % 1.0
# Target points: mu = sum(p), sd = sqrt(sum(p (1 - p))), k = round(mu + z * sd).
#   N = 1e4, 1e5:  z = +40, -40, +25, -25
#   N = 1e6:       z = +40, -40 only (one Convolve at 1e6 takes ~9.5 min on
#                  the 2-core dev box, so four would be ~40 min)
#   N = 1000 (role "check", for check_tail_refs.py's exact mpmath comparison):
#                  z = +-25, +-30, +-36, +-38  (mu + 40 sd > N at N = 1000)
#
# Run from the project root:
#   Rscript tests/reference/make_tail_refs.R            # N = 1e3 1e4 1e5, ~30 s
#   Rscript tests/reference/make_tail_refs.R 1e3 1e4 1e5 1e6   # ~19 min
#
# Writes (next to this script):
#   tail_refs.csv      columns N,k,z,theta,logpmf,logcdf,logsf,role
#                      (logsf only for z > 0, logcdf only for z < 0, else NA;
#                       role = "check" for the N = 1000 validation rows, "ref"
#                       otherwise); numbers with format(x, digits = 17)
#   tail_refs_log.txt  sessionInfo(), timings, validation (a) results
#
# Validation (a), run every time: at N = 2000, points z = +-5, +-10, +-20, +-30
# (plain Convolve values all > 1e-300), tilted logpmf/logsf/logcdf are compared
# with log(dpbinom(..., "Convolve")) and log(ppbinom(..., "Convolve",
# lower.tail = TRUE/FALSE)); the script stops if any |difference| > 1e-11.

suppressPackageStartupMessages(library(PoissonBinomial))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"
Ns <- as.numeric(commandArgs(trailingOnly = TRUE))
if (!length(Ns)) Ns <- c(1e3, 1e4, 1e5)
stopifnot(all(Ns == round(Ns)), all(Ns >= 100))

PHI <- 0.6180339887498949
make_p <- function(N) (as.double(seq_len(N)) * PHI) %% 1

z_for <- function(N) {
  if (N == 1000) c(25, -25, 30, -30, 36, -36, 38, -38)
  else if (N >= 1e6) c(40, -40)
  else c(40, -40, 25, -25)
}

# Neumaier (compensated) summation
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
  f <- function(th) sum(plogis(a + th)) - k
  th <- uniroot(f, c(-60, 60), tol = 1e-14, maxiter = 10000)$root
  for (it in 1:3) {                  # Newton polish
    pt <- plogis(a + th)
    d <- sum(pt * (1 - pt))
    step <- (sum(pt) - k) / d
    if (!is.finite(step)) break
    th <- th - step
  }
  th
}

# Tilted evaluation at integer k.  Returns list(theta, logpmf, logcdf, logsf,
# secs, sum_diff) where logcdf / logsf are filled for theta <= 0 / > 0.
tilted <- function(p, k) {
  a <- qlogis(p)
  th <- solve_theta(a, k)
  pt <- plogis(a + th)
  secs <- system.time(Pp <- dpbinom(NULL, pt, method = "Convolve"))[["elapsed"]]
  # Normalising offset  off = lognorm - theta*k, in the KL form (see header).
  qt <- 1 - pt                       # what the convolution uses
  q <- 1 - p
  kl <- pt * log(pt / p) + qt * log(qt / q)
  resid <- csum(c(-k, pt))           # sum(pt) - k, without rounding sum(pt) to ulp(k)
  off <- -csum(kl) + th * resid
  off_literal <- -th * k + sum(log1p(p * expm1(th)))
  N <- length(p)
  j <- 0:N
  logpmf <- log(Pp[k + 1]) + off
  logcdf <- NA_real_; logsf <- NA_real_
  if (th > 0) {
    sel <- j > k
    logsf <- log(sum(Pp[sel] * exp(-th * (j[sel] - k)))) + off
  } else {
    sel <- j <= k
    logcdf <- log(sum(Pp[sel] * exp(th * (k - j[sel])))) + off
  }
  list(theta = th, logpmf = logpmf, logcdf = logcdf, logsf = logsf,
       secs = secs, off_diff = off_literal - off,
       mass_at_k = Pp[k + 1])
}

log_lines <- character()
say <- function(...) {
  s <- sprintf(...)
  cat(s, "\n", sep = "")
  log_lines <<- c(log_lines, s)
}

## ---------------- validation (a): N = 2000 vs plain Convolve ----------------
say("Validation (a): N = 2000, tilted vs plain Convolve (log scale, absolute diff)")
p <- make_p(2000)
mu <- sum(p); sd <- sqrt(sum(p * (1 - p)))
plain_pmf <- dpbinom(NULL, p, method = "Convolve")
plain_cdf <- ppbinom(NULL, p, method = "Convolve", lower.tail = TRUE)
plain_sf  <- ppbinom(NULL, p, method = "Convolve", lower.tail = FALSE)
maxdiff <- 0
for (z in c(5, -5, 10, -10, 20, -20, 30, -30)) {
  k <- round(mu + z * sd)
  r <- tilted(p, k)
  stopifnot(plain_pmf[k + 1] > 1e-300)
  dp <- r$logpmf - log(plain_pmf[k + 1])
  if (z > 0) { dt <- r$logsf - log(plain_sf[k + 1]); tn <- "sf" }
  else       { dt <- r$logcdf - log(plain_cdf[k + 1]); tn <- "cdf" }
  maxdiff <- max(maxdiff, abs(dp), abs(dt))
  say("  z=%+4g k=%5d theta=%+.6f logpmf=%.10f dpmf=%+.2e  log%s=%.10f d%s=%+.2e",
      z, k, r$theta, r$logpmf, dp, tn, if (z > 0) r$logsf else r$logcdf, tn, dt)
}
say("  max |diff| = %.3e", maxdiff)
stopifnot(maxdiff < 1e-11)

## ---------------- reference values ----------------
fmt <- function(x) ifelse(is.na(x), "NA", format(x, digits = 17))
rows <- character()
for (N in Ns) {
  p <- make_p(N)
  mu <- sum(p); sd <- sqrt(sum(p * (1 - p)))
  say("N = %g: mu = %.10f, sd = %.10f, min p = %.3e, max p = 1-%.3e",
      N, mu, sd, min(p), 1 - max(p))
  for (z in z_for(N)) {
    k <- round(mu + z * sd)
    stopifnot(k >= 0, k <= N)
    r <- tilted(p, k)
    say("  z=%+4g k=%7d theta=%+.15f P'(k)=%.4e Convolve %.1f s  logpmf=%.12f  log%s=%.12f  (literal - KL offset = %+.2e)",
        z, k, r$theta, r$mass_at_k, r$secs, r$logpmf, if (z > 0) "sf" else "cdf",
        if (z > 0) r$logsf else r$logcdf, r$off_diff)
    rows <- c(rows, paste(format(N, scientific = FALSE), k, z, fmt(r$theta),
                          fmt(r$logpmf), fmt(r$logcdf), fmt(r$logsf),
                          if (N == 1000) "check" else "ref", sep = ","))
  }
}

tmp <- file.path(outdir, "tail_refs.csv.tmp")
writeLines(c("N,k,z,theta,logpmf,logcdf,logsf,role", rows), tmp)
invisible(file.rename(tmp, file.path(outdir, "tail_refs.csv")))
writeLines(c(paste("Generated", format(Sys.time(), tz = "UTC", usetz = TRUE),
                   "with args:", paste(Ns, collapse = " ")),
             "", log_lines, "", capture.output(sessionInfo())),
           file.path(outdir, "tail_refs_log.txt"))

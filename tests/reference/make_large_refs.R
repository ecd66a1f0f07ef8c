#!/usr/bin/env Rscript
# Large-N Poisson-binomial reference values from CRAN PoissonBinomial,
# method = "Convolve" (O(N^2) direct convolution), independent of binfer.
#
# Run from the project root:
#   Rscript tests/reference/make_large_refs.R 1e4 1e5 1e6
# (arguments = the N values; default 1e4 1e5).  Each N costs three O(N^2)
# convolutions (dpbinom, ppbinom lower tail, ppbinom upper tail); measured on
# the 2-core dev box (another job on the other core): N = 1e4 0.05-0.09 s each,
# N = 1e5 5-9 s each, N = 1e6 506-592 s each, 27 min in total.
#
# Probabilities (no file needed, bit-identical in R and Python):
#   R:      p <- (as.double(1:N) * 0.6180339887498949) %% 1
#   Python: p = (np.arange(1, N + 1, dtype=float) * 0.6180339887498949) % 1.0
# Both are one IEEE double multiplication followed by an exact fractional part.
#
# Writes (next to this script):
#   large_refs_N<N>.csv      columns k,logpmf,logcdf,logsf
#   large_refs_session.txt   sessionInfo(), timings and selection summary
#
# Conventions: natural logs; cdf(k) = P(X <= k), sf(k) = P(X > k).
#   logpmf = log(dpbinom(NULL, p, method = "Convolve"))[k + 1]
#   logcdf = log(ppbinom(NULL, p, method = "Convolve", lower.tail = TRUE))[k + 1]
#   logsf  = log(ppbinom(NULL, p, method = "Convolve", lower.tail = FALSE))[k + 1]
# (log() taken here of the doubles).  A value is NA when the double is
# <= 1e-300, or (cdf/sf only) when the double is >= 1 (PoissonBinomial clamps
# cumulative sums to <= 1, so this means exactly 1: the log of a rounded 1 is
# useless).  Values are printed with format(x, digits = 17).
#
# Selected k only (files stay < ~300 KB).  Let R = [kmin, kmax] be the
# (contiguous) region where pmf > 1e-300 and m = the mode:
#   * lower tail: k in R, k < m, pmf < 1e-3, every s-th k starting at kmin,
#     s = ceiling(count / 1500), plus the last such k;
#   * upper tail: the mirror image (every s-th k going down from kmax);
#   * bulk: round(seq(mu - 6 sd, mu + 6 sd, length.out = 500)) clipped to R,
#     with mu = sum(p), sd = sqrt(sum(p (1 - p)));
#   * every k in kmin..kmin+29 and kmax-29..kmax; and the mode m.

suppressPackageStartupMessages(library(PoissonBinomial))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"
Ns <- as.numeric(commandArgs(trailingOnly = TRUE))
if (!length(Ns)) Ns <- c(1e4, 1e5)
stopifnot(all(Ns == round(Ns)), all(Ns >= 100))

PHI <- 0.6180339887498949
make_p <- function(N) (as.double(seq_len(N)) * PHI) %% 1

fmt_val <- function(x) {
  s <- vapply(seq_along(x), function(i) format(x[i], digits = 17, trim = TRUE), "")
  s[is.na(x)] <- "NA"
  s
}
fmt_int <- function(k) formatC(k, format = "d", big.mark = "")
stamp <- function() format(Sys.time(), "%Y-%m-%d %H:%M:%S")

log_keep <- function(x, cum) {
  out <- rep(NA_real_, length(x))
  ok <- x > 1e-300
  if (cum) ok <- ok & x < 1
  out[ok] <- log(x[ok])
  out
}

select_k <- function(pmf, p) {
  N <- length(pmf) - 1
  k <- 0:N
  inR <- which(pmf > 1e-300) - 1
  kmin <- min(inR); kmax <- max(inR)
  stopifnot(length(inR) == kmax - kmin + 1)          # contiguous
  m <- k[which.max(pmf)]
  lo <- k[k >= kmin & k < m & pmf < 1e-3]
  hi <- k[k <= kmax & k > m & pmf < 1e-3]
  s_lo <- max(1, ceiling(length(lo) / 1500))
  s_hi <- max(1, ceiling(length(hi) / 1500))
  lo_sel <- if (length(lo)) c(lo[seq(1, length(lo), by = s_lo)], max(lo)) else integer(0)
  hi_rev <- rev(hi)
  hi_sel <- if (length(hi)) c(hi_rev[seq(1, length(hi), by = s_hi)], min(hi)) else integer(0)
  mu <- sum(p); sd <- sqrt(sum(p * (1 - p)))
  bulk <- round(seq(max(kmin, mu - 6 * sd), min(kmax, mu + 6 * sd), length.out = 500))
  ends <- c(kmin + 0:29, kmax - 0:29)
  sel <- sort(unique(c(lo_sel, hi_sel, bulk, ends, m)))
  sel <- sel[sel >= kmin & sel <= kmax]
  list(k = sel, kmin = kmin, kmax = kmax, mode = m, mu = mu, sd = sd,
       n_lo = length(lo), s_lo = s_lo, n_hi = length(hi), s_hi = s_hi)
}

info <- character(0)
for (N in Ns) {
  p <- make_p(N)
  stopifnot(all(p > 0 & p < 1))
  cat(sprintf("[%s] N = %s: sum(p) = %.17g\n", stamp(), fmt_int(N), sum(p)))
  t_pmf <- system.time(pmf <- dpbinom(NULL, p, method = "Convolve"))[["elapsed"]]
  cat(sprintf("[%s]   dpbinom        %.2f s\n", stamp(), t_pmf))
  t_cdf <- system.time(cdf <- ppbinom(NULL, p, method = "Convolve", lower.tail = TRUE))[["elapsed"]]
  cat(sprintf("[%s]   ppbinom lower  %.2f s\n", stamp(), t_cdf))
  t_sf <- system.time(sf <- ppbinom(NULL, p, method = "Convolve", lower.tail = FALSE))[["elapsed"]]
  cat(sprintf("[%s]   ppbinom upper  %.2f s\n", stamp(), t_sf))

  sel <- select_k(pmf, p)
  k <- sel$k
  out <- data.frame(k = fmt_int(k),
                    logpmf = fmt_val(log_keep(pmf[k + 1], FALSE)),
                    logcdf = fmt_val(log_keep(cdf[k + 1], TRUE)),
                    logsf  = fmt_val(log_keep(sf[k + 1], TRUE)),
                    stringsAsFactors = FALSE)
  fn <- file.path(outdir, sprintf("large_refs_N%s.csv", fmt_int(N)))
  write.csv(out, fn, row.names = FALSE, quote = FALSE)
  line <- sprintf(paste0(
    "N=%s: sum(p)=%.17g sd=%.6g sum(pmf)=%.17g | dpbinom %.2f s, ppbinom lower %.2f s, ",
    "upper %.2f s | pmf>1e-300 for k in [%d, %d], mode %d | lower tail %d k (stride %d), ",
    "upper tail %d k (stride %d) | %d rows, %d bytes -> %s"),
    fmt_int(N), sum(p), sel$sd, sum(pmf), t_pmf, t_cdf, t_sf, sel$kmin, sel$kmax,
    sel$mode, sel$n_lo, sel$s_lo, sel$n_hi, sel$s_hi, nrow(out), file.size(fn), basename(fn))
  cat(line, "\n")
  info <- c(info, line)
  rm(pmf, cdf, sf); invisible(gc())
}

si <- capture.output(sessionInfo())
writeLines(c(
  "# Session used by make_large_refs.R to produce large_refs_N*.csv",
  sprintf("# generated: %s", format(Sys.time(), tz = "UTC", usetz = TRUE)),
  sprintf("# command: Rscript tests/reference/make_large_refs.R %s",
          paste(commandArgs(trailingOnly = TRUE), collapse = " ")),
  sprintf("# R: %s", R.version.string),
  sprintf("# PoissonBinomial: %s", as.character(packageVersion("PoissonBinomial"))),
  sprintf("# host: %s, %s cores", Sys.info()[["machine"]], parallel::detectCores()),
  paste("#", info),
  "", si), file.path(outdir, "large_refs_session.txt"))
cat(sprintf("[%s] done\n", stamp()))

#!/usr/bin/env Rscript
# Reference values for issue 11, section 3 ("results that carry their data"), computed with R
# and VGAM, never with binfer:
#
#   binom_test      stats::binom.test / stats::prop.test of p = p0, every alternative, with and
#                   without prop.test's continuity correction; log p-values in log space
#   chisq_groups    stats::chisq.test(cbind(events, trials - events))$expected / $residuals /
#                   $stdres, event column, for the bundled one-arm datasets
#   bb_ci           VGAM::vglm(cbind(x, n - x) ~ 1, betabinomial): confint() Wald (link scale)
#                   and method = "profile", and a tight profile-likelihood interval computed here
#   cmh_alt         stats::mantelhaen.test(..., alternative = "less"/"greater", exact = FALSE/TRUE)
#   trend_alt       one-sided Cochran-Armitage p-values: the normal tail of the signed z, whose
#                   size is sqrt(prop.trend.test's statistic) and whose sign is the weighted
#                   least-squares slope's (R's prop.trend.test has no alternative)
#
# Run from the project root (about 20 s):
#
#     Rscript tests/reference/make_trust_refs.R
#
# Writes tests/reference/trust_refs.json; deterministic (no timestamps, no random numbers).
# The data are read from binfer/datasets/data/*.csv (plain CSV files) plus a few hand-made
# cases below.  Written and run with R 4.2.2 Patched, jsonlite 1.8.4, VGAM 1.1-7 (Debian).
#
# Log p-values: R's p-values underflow to 0 below ~1e-308, so the script also computes each
# p-value in log space (dbinom/pbinom/pnorm with log = TRUE, the binom.test rule written out),
# and stop()s unless that equals log(R's p-value) wherever the latter is > 1e-300.

suppressPackageStartupMessages({
  library(jsonlite)
  library(VGAM)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"
datadir <- file.path(outdir, "..", "..", "binfer", "datasets", "data")
outfile <- file.path(outdir, "trust_refs.json")

checks <- list()
check <- function(name, a, b, tol, rel = TRUE) {
  a <- as.numeric(a); b <- as.numeric(b)
  stopifnot(length(a) == length(b))
  ok <- (is.infinite(a) & a == b) | (is.na(a) & is.na(b))
  d <- abs(a - b)
  if (rel) d <- d / pmax(abs(b), 1e-300)
  d[ok] <- 0
  m <- max(d)
  if (!(m <= tol)) stop(sprintf("check %s failed: max %s diff %.3g > %.3g",
                                name, if (rel) "rel" else "abs", m, tol))
  prev <- checks[[name]]
  checks[[name]] <<- list(max_diff = max(m, if (is.null(prev)) 0 else prev$max_diff),
                          kind = if (rel) "relative" else "absolute", tol = tol)
  invisible(m)
}
logaddexp <- function(x, y) {
  m <- pmax(x, y)
  out <- m + log1p(exp(-abs(x - y)))
  out[is.infinite(m) & m < 0] <- -Inf
  out
}
logsumexp <- function(v) { m <- max(v); if (!is.finite(m)) return(m); m + log(sum(exp(v - m))) }
read_data <- function(name) read.csv(file.path(datadir, paste0(name, ".csv")), check.names = FALSE)

###############################################################################
# 1. binom_test: exact binomial test and score test of p = p0
#    pvalue_exact = binom.test(x, n, p0, alternative)$p.value; log_pvalue_exact in log space:
#      less: pbinom(x, log.p = TRUE); greater: pbinom(x - 1, lower = FALSE, log.p = TRUE);
#      two-sided: binom.test's rule (outcomes with dbinom <= dbinom(x) * (1 + 1e-7)) with the
#      far side's count y taken from dbinom(log = TRUE) over the whole side, as binom.test does.
#    prop.test(x, n, p0, alternative, correct): statistic (X-squared), p-value; log p-value
#      from pnorm(log.p = TRUE) of the signed root (two-sided: log 2 + pnorm(-sqrt(X^2))).
###############################################################################
binom_log_p <- function(x, n, p, alternative) {
  if (alternative == "less") return(pbinom(x, n, p, log.p = TRUE))
  if (alternative == "greater") return(pbinom(x - 1, n, p, lower.tail = FALSE, log.p = TRUE))
  ld <- dbinom(x, n, p, log = TRUE) + log1p(1e-7)
  m <- n * p
  if (x == m) return(0)
  if (x < m) {
    i <- seq.int(from = ceiling(m), to = n)
    y <- sum(dbinom(i, n, p, log = TRUE) <= ld)
    logaddexp(pbinom(x, n, p, log.p = TRUE), pbinom(n - y, n, p, lower.tail = FALSE, log.p = TRUE))
  } else {
    i <- seq.int(from = 0, to = floor(m))
    y <- sum(dbinom(i, n, p, log = TRUE) <= ld)
    logaddexp(if (y > 0) pbinom(y - 1, n, p, log.p = TRUE) else -Inf,
              pbinom(x - 1, n, p, lower.tail = FALSE, log.p = TRUE))
  }
}
score_log_p <- function(stat, delta, alternative) {
  z <- sign(delta) * sqrt(stat)
  switch(alternative,
         "two-sided" = log(2) + pnorm(-sqrt(stat), log.p = TRUE),
         less = pnorm(z, log.p = TRUE),
         greater = pnorm(z, lower.tail = FALSE, log.p = TRUE))
}
r_alt <- function(a) if (a == "two-sided") "two.sided" else a

binom_cases <- list(
  list(label = "hospitals 26/314 vs 0.05", x = 26, n = 314, p0 = 0.05),
  list(label = "symmetric tie 7/30 vs 0.5", x = 7, n = 30, p0 = 0.5),
  list(label = "at the mean 15/30 vs 0.5", x = 15, n = 30, p0 = 0.5),
  list(label = "upper side 27/40 vs 0.3", x = 27, n = 40, p0 = 0.3),
  list(label = "zero events 0/20 vs 0.1", x = 0, n = 20, p0 = 0.1),
  list(label = "all events 20/20 vs 0.9", x = 20, n = 20, p0 = 0.9),
  list(label = "p-value below 1e-300: 0/1e6 vs 0.01", x = 0, n = 1e6, p0 = 0.01),
  list(label = "far tail 5000/1e5 vs 0.02", x = 5000, n = 1e5, p0 = 0.02),
  list(label = "large n 300712/1e6 vs 0.3", x = 300712, n = 1e6, p0 = 0.3),
  list(label = "tiny p0 3/1e6 vs 1e-6", x = 3, n = 1e6, p0 = 1e-6))
for (nm in c("surgical", "rat_tumors", "dose_response", "efron_morris", "orange_juice")) {
  d <- read_data(nm)
  x <- sum(d$events); n <- sum(d$trials)
  for (p0 in c(round(x / n, 2) + 0.01, 0.5))
    binom_cases[[length(binom_cases) + 1]] <- list(label = sprintf("%s totals vs %g", nm, p0),
                                                   dataset = nm, x = x, n = n, p0 = p0)
}
binom <- list()
for (bc in binom_cases) {
  for (alt in c("two-sided", "less", "greater")) {
    bt <- binom.test(bc$x, bc$n, bc$p0, alternative = r_alt(alt))
    lpe <- binom_log_p(bc$x, bc$n, bc$p0, alt)
    if (bt$p.value > 1e-300) check("binom_test_log_vs_R", exp(lpe), bt$p.value, 1e-12)
    rec <- list(label = bc$label, dataset = if (is.null(bc$dataset)) NULL else bc$dataset,
                x = as.integer(bc$x), n = as.integer(bc$n), p0 = bc$p0, alternative = alt,
                pvalue_exact = bt$p.value, log_pvalue_exact = lpe)
    for (corr in c(FALSE, TRUE)) {
      pt <- suppressWarnings(prop.test(bc$x, bc$n, bc$p0, alternative = r_alt(alt), correct = corr))
      lps <- score_log_p(unname(pt$statistic), bc$x / bc$n - bc$p0, alt)
      if (pt$p.value > 1e-300) check("prop_test_log_vs_R", exp(lps), pt$p.value, 1e-12)
      key <- if (corr) "_cc" else ""
      rec[[paste0("statistic_score", key)]] <- unname(pt$statistic)
      rec[[paste0("pvalue_score", key)]] <- pt$p.value
      rec[[paste0("log_pvalue_score", key)]] <- lps
    }
    binom[[length(binom) + 1]] <- rec
  }
}

###############################################################################
# 2. chisq_groups: chisq.test(cbind(events, trials - events), correct = FALSE), event column
###############################################################################
chisq_groups <- list()
for (nm in c("surgical", "rat_tumors", "dose_response", "efron_morris", "orange_juice")) {
  d <- read_data(nm)
  tab <- cbind(d$events, d$trials - d$events)
  ct <- suppressWarnings(chisq.test(tab, correct = FALSE))
  # expected = n_i X / N; Pearson residual (O - E) / sqrt(E); standardised (Agresti's adjusted)
  # residual (O - E) / sqrt(n_i p (1 - p) (1 - n_i / N)): checked against the formulas
  p <- sum(d$events) / sum(d$trials)
  e <- d$trials * p
  check("chisq_expected_formula", ct$expected[, 1], e, 1e-13)
  check("chisq_stdres_formula", ct$stdres[, 1],
        (d$events - e) / sqrt(d$trials * p * (1 - p) * (1 - d$trials / sum(d$trials))), 1e-12)
  chisq_groups[[length(chisq_groups) + 1]] <- list(
    dataset = nm, group = I(as.character(d$group)), statistic = unname(ct$statistic),
    expected_events = I(unname(ct$expected[, 1])), pearson_residual = I(unname(ct$residuals[, 1])),
    pearson_residual_non_events = I(unname(ct$residuals[, 2])),
    standardized_residual = I(unname(ct$stdres[, 1])),
    r_source = "stats::chisq.test(cbind(events, trials - events))$expected[, 1], $residuals[, 1], $stdres[, 1]")
}

###############################################################################
# 3. bb_ci: beta-binomial intervals for mu and rho, conf 0.95
#    vglm(cbind(x, n - x) ~ 1, betabinomial) has logitlink(mu) and logitlink(rho).
#    wald: plogis(confint(fit)) (Wald on the logit scale with VGAM's expected information);
#    vgam_profile: plogis(confint(fit, method = "profile")) (VGAM profiles on a grid and
#      interpolates: a few digits only);
#    profile: computed here.  l(mu, rho) = sum lchoose(n, x) + lbeta(x + a, n - x + b) - lbeta(a, b)
#      with a = mu (1 - rho) / rho, b = (1 - mu)(1 - rho) / rho, evaluated in Griffiths' product
#      form (exact down to rho = 0, which lbeta is not).  Profile of mu: max over
#      logit(rho) by optimize(tol = 1e-12) (and the binomial rho = 0 limit); profile of rho: max
#      over logit(mu).  Limits: uniroot(tol = 1e-13) of 2 (lmax - lprof) = qchisq(0.95, 1).
###############################################################################
# The product form (Griffiths 1973): P(x) = C(n, x) prod_{j<x} (mu (1 - rho) + j rho)
# prod_{j<n-x} ((1 - mu)(1 - rho) + j rho) / prod_{j<n} (1 - rho + j rho): exact at any rho in
# [0, 1), where lbeta(x + a, n - x + b) - lbeta(a, b) cancels for a + b beyond ~1e8.
bb_loglik <- function(mu, rho, x, n) {
  sum(mapply(function(xi, ni) {
    j1 <- seq_len(xi) - 1; j2 <- seq_len(ni - xi) - 1; j3 <- seq_len(ni) - 1
    lchoose(ni, xi) + sum(log(mu * (1 - rho) + j1 * rho)) +
      sum(log((1 - mu) * (1 - rho) + j2 * rho)) - sum(log(1 - rho + j3 * rho))
  }, x, n))
}
bin_loglik <- function(mu, x, n) sum(dbinom(x, n, mu, log = TRUE))
bb_ci <- list()
# "underdispersed": made up, every group near 1/4; the MLE is the binomial (rho = 0), where
# VGAM's logit(rho) runs off to -Inf, so it has the own profile only.
for (nm in c("rat_tumors", "surgical", "orange_juice", "underdispersed")) {
  boundary <- nm == "underdispersed"
  d <- if (boundary) data.frame(events = c(10, 10, 11, 9), trials = c(40, 40, 40, 40)) else read_data(nm)
  x <- d$events; n <- d$trials
  if (!boundary) {
    fit <- vglm(cbind(x, n - x) ~ 1, betabinomial, data = data.frame(x = x, n = n),
                control = vglm.control(epsilon = 1e-13, maxit = 200))
    cf <- coef(fit)
    mu_hat <- plogis(cf[[1]]); rho_hat <- plogis(cf[[2]])
    # polish the MLE (VGAM stops at its own epsilon) so that lmax is the maximum
    opt <- optim(c(qlogis(mu_hat), qlogis(rho_hat)),
                 function(t) -bb_loglik(plogis(t[1]), plogis(t[2]), x, n),
                 method = "BFGS", control = list(reltol = 1e-15, maxit = 1000))
    lmax <- -opt$value
    check("bb_mle_vgam_vs_polished", plogis(opt$par), c(mu_hat, rho_hat), 1e-6)
    mle <- plogis(opt$par)
  } else {
    mle <- c(sum(x) / sum(n), 0)
    lmax <- bin_loglik(mle[1], x, n)
    # no beta-binomial does better: the profile of rho at small rho stays below lmax
    stopifnot(all(sapply(10^(-8:-2), function(r) optimize(function(t) bb_loglik(plogis(t), r, x, n),
                                                           c(-5, 5), maximum = TRUE)$objective) < lmax))
  }
  crit <- qchisq(0.95, 1)
  prof_mu <- function(mu) max(optimize(function(t) bb_loglik(mu, plogis(t), x, n), c(-30, 5),
                                       maximum = TRUE, tol = 1e-12)$objective, bin_loglik(mu, x, n))
  prof_rho <- function(rho) optimize(function(t) bb_loglik(plogis(t), rho, x, n), c(-15, 15),
                                     maximum = TRUE, tol = 1e-12)$objective
  dev_mu <- function(mu) 2 * (lmax - prof_mu(mu)) - crit
  dev_rho <- function(rho) 2 * (lmax - prof_rho(rho)) - crit
  mu_ci <- c(uniroot(dev_mu, c(1e-6, mle[1]), tol = 1e-13)$root,
             uniroot(dev_mu, c(mle[1], 1 - 1e-6), tol = 1e-13)$root)
  rho_low <- if (dev_rho(1e-9) < 0) 0 else uniroot(dev_rho, c(1e-9, mle[2]), tol = 1e-13)$root
  rho_ci <- c(rho_low, uniroot(dev_rho, c(max(mle[2], 1e-9), 0.999), tol = 1e-13)$root)
  check("bb_profile_limits_solve", c(sapply(mu_ci, dev_mu), if (rho_low > 0) dev_rho(rho_low), dev_rho(rho_ci[2])),
        rep(0, 3 + (rho_low > 0)), 1e-7, rel = FALSE)
  rec <- list(dataset = nm, conf_level = 0.95, mu = mle[1], rho = mle[2], loglik = lmax,
              profile_mu = I(mu_ci), profile_rho = I(rho_ci))
  if (boundary) {
    rec$events <- I(as.integer(x)); rec$trials <- I(as.integer(n))
  } else {
    wald <- plogis(confint(fit, level = 0.95))
    vprof <- suppressWarnings(plogis(confint(fit, method = "profile", level = 0.95)))
    check("bb_vgam_profile_vs_tight", c(vprof[1, ], vprof[2, ]), c(mu_ci, rho_ci), 2e-2)
    rec <- c(rec, list(wald_mu = I(unname(wald[1, ])), wald_rho = I(unname(wald[2, ])),
                       vgam_profile_mu = I(unname(vprof[1, ])), vgam_profile_rho = I(unname(vprof[2, ]))))
  }
  bb_ci[[length(bb_ci) + 1]] <- c(rec, list(
    r_source = paste("VGAM::vglm(cbind(x, n - x) ~ 1, betabinomial); plogis(confint(fit)) (wald),",
                     "plogis(confint(fit, method = 'profile')); profile_*: own optimize/uniroot")))
}

###############################################################################
# 4. cmh_alt: mantelhaen.test on the 2 x 2 x K array [arm (treat, ctrl), outcome, study],
#    alternative less/greater, exact FALSE (correct TRUE/FALSE) and TRUE.  R's exact
#    confidence limits come from uniroot's default tolerance (~1e-4): the one-sided limits are
#    also solved tightly here (uniroot tol 1e-12 on log psi of the conditional law of S).
###############################################################################
as_array <- function(d) {
  k <- nrow(d)
  arr <- array(0, c(2, 2, k))
  arr[1, 1, ] <- d$events_treat; arr[1, 2, ] <- d$trials_treat - d$events_treat
  arr[2, 1, ] <- d$events_ctrl; arr[2, 2, ] <- d$trials_ctrl - d$events_ctrl
  arr
}
cond_law <- function(arr) {
  logW <- 0; lo <- 0
  for (k in seq_len(dim(arr)[3])) {
    n1 <- sum(arr[1, , k]); n2 <- sum(arr[2, , k]); m1 <- sum(arr[, 1, k])
    alo <- max(0, m1 - n2); ahi <- min(n1, m1)
    lw <- lchoose(n1, alo:ahi) + lchoose(n2, m1 - (alo:ahi))
    new <- rep(-Inf, length(logW) + length(lw) - 1)
    for (j in seq_along(lw)) {
      idx <- j - 1 + seq_along(logW)
      new[idx] <- logaddexp(new[idx], logW + lw[j])
    }
    logW <- new; lo <- lo + alo
  }
  list(logW = logW, sup = lo + seq_along(logW) - 1)
}
cmh_alt <- list()
for (nm in c("bcg", "beta_blockers", "aspirin", "multicentre")) {
  arr <- as_array(read_data(nm))
  for (alt in c("less", "greater")) {
    for (corr in c(TRUE, FALSE)) {
      mt <- mantelhaen.test(arr, alternative = alt, correct = corr)
      cmh_alt[[length(cmh_alt) + 1]] <- list(
        dataset = nm, alternative = alt, exact = FALSE, correct = corr,
        statistic = unname(mt$statistic), pvalue = mt$p.value, estimate = unname(mt$estimate),
        conf_low = mt$conf.int[1], conf_high = mt$conf.int[2],
        r_source = sprintf("stats::mantelhaen.test(x, alternative = '%s', correct = %s)", alt, corr))
    }
    me <- mantelhaen.test(arr, alternative = alt, exact = TRUE)
    law <- cond_law(arr)
    s <- sum(arr[1, 1, ])
    logd <- function(t) { v <- law$logW + t * law$sup; v - logsumexp(v) }
    tail_p <- function(t) exp(logsumexp(logd(t)[if (alt == "less") law$sup <= s else law$sup >= s]))
    check("cmh_exact_one_sided_pvalue", tail_p(0), me$p.value, 1e-10)
    a1 <- 1 - 0.95
    tight <- if (alt == "less") {
      c(0, if (s == max(law$sup)) Inf else
        exp(uniroot(function(t) log(tail_p(t)) - log(a1), c(-50, 50), tol = 1e-12)$root))
    } else {
      c(if (s == min(law$sup)) 0 else
        exp(uniroot(function(t) log(tail_p(t)) - log(a1), c(-50, 50), tol = 1e-12)$root), Inf)
    }
    on_r_scale <- function(v) ifelse(v > 1, 1 / v, v)
    check("cmh_exact_one_sided_ci_R_vs_tight", on_r_scale(me$conf.int), on_r_scale(tight), 2.5e-4, rel = FALSE)
    cmh_alt[[length(cmh_alt) + 1]] <- list(
      dataset = nm, alternative = alt, exact = TRUE, statistic_S = as.integer(s),
      pvalue = me$p.value, estimate = unname(me$estimate),
      conf_low = me$conf.int[1], conf_high = me$conf.int[2],
      conf_low_tight = tight[1], conf_high_tight = tight[2],
      r_source = sprintf("stats::mantelhaen.test(x, alternative = '%s', exact = TRUE); *_tight: own uniroot(tol = 1e-12)", alt))
  }
}

###############################################################################
# 5. trend_alt: z = sign(slope of lm(events/trials ~ score, weights = trials)) *
#    sqrt(prop.trend.test(events, trials, score)$statistic); p_less = pnorm(z),
#    p_greater = pnorm(z, lower.tail = FALSE), two-sided = prop.trend.test's p-value.
###############################################################################
trend_cases <- list(
  list(dataset = "smokers", events = c(83, 90, 129, 70), trials = c(86, 93, 136, 82), score = 1:4),
  list(dataset = "dose_response", score_option = "dose"),
  list(dataset = "surgical", score_option = "default"))
trend_alt <- list()
for (tc in trend_cases) {
  if (tc$dataset == "smokers") {
    x <- tc$events; n <- tc$trials; s <- tc$score; opt <- "default"
  } else {
    d <- read_data(tc$dataset)
    x <- d$events; n <- d$trials; opt <- tc$score_option
    s <- if (opt == "dose") d$dose else seq_along(x)
  }
  pt <- prop.trend.test(x, n, score = s)
  slope <- coef(lm(I(x / n) ~ s, weights = n))[[2]]
  z <- sign(slope) * sqrt(unname(pt$statistic))
  trend_alt[[length(trend_alt) + 1]] <- list(
    dataset = tc$dataset, events = if (tc$dataset == "smokers") I(x) else NULL,
    trials = if (tc$dataset == "smokers") I(n) else NULL, scores_option = opt,
    z = z, statistic = unname(pt$statistic), pvalue_two_sided = pt$p.value,
    pvalue_less = pnorm(z), pvalue_greater = pnorm(z, lower.tail = FALSE),
    r_source = "z = sign(lm slope) * sqrt(stats::prop.trend.test(x, n, score)$statistic); pnorm(z)")
}

###############################################################################
# Write JSON (doubles as the shortest of %.15g/%.16g/%.17g that round-trips)
###############################################################################
pkgs <- c("jsonlite", "VGAM")
meta <- list(
  generator = "tests/reference/make_trust_refs.R (run: Rscript tests/reference/make_trust_refs.R from the project root)",
  r_version = R.version.string,
  packages = setNames(lapply(pkgs, function(p) as.character(packageVersion(p))), pkgs),
  checks = checks)
out <- list(meta = meta, binom_test = binom, chisq_groups = chisq_groups, bb_ci = bb_ci,
            cmh_alt = cmh_alt, trend_alt = trend_alt)

fmt1 <- function(v) {
  if (is.na(v) && !is.nan(v)) return("null")
  if (is.nan(v)) return("\"nan\"")
  if (is.infinite(v)) return(if (v > 0) "\"inf\"" else "\"-inf\"")
  for (dg in 15:17) { s <- sprintf("%.*g", dg, v); if (as.numeric(s) == v) break }
  s
}
prep <- function(x) {
  if (is.null(x)) return(NULL)
  if (is.list(x)) {
    at <- attributes(x); y <- lapply(x, prep); attributes(y) <- at
    return(if (is.null(names(y))) y else y[!vapply(y, is.null, TRUE)])
  }
  if (is.double(x)) {
    s <- vapply(as.numeric(x), fmt1, "")
    return(structure(if (length(x) == 1 && !inherits(x, "AsIs")) s else paste0("[", paste(s, collapse = ","), "]"),
                     class = "json"))
  }
  x
}
txt <- toJSON(prep(out), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, null = "null", na = "null")
back <- fromJSON(txt, simplifyVector = FALSE)
stopifnot(identical(back$binom_test[[1]]$pvalue_exact, binom[[1]]$pvalue_exact))
writeLines(txt, outfile)
cat("wrote", outfile, "\n")

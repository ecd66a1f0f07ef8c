#!/usr/bin/env Rscript
# Reference values for binfer's pooled estimators and homogeneity tests,
# computed with independent software (R and CRAN/Debian packages), never with
# binfer.  Nothing here is copied from Python output.
#
# Run from the project root (takes about 2-3 minutes; most of it is two
# fisher.test() calls, one of which is expected to time out):
#
#     Rscript tests/reference/make_stats_refs.R
#
# Writes tests/reference/stats_refs.json (next to this script).  The output is
# deterministic (no timestamps, no random numbers).
#
# Written and run with R 4.2.2 Patched (2022-11-10 r83330) on Debian, with
# jsonlite 1.8.4, VGAM 1.1-7, epitools 0.5-10.1, metadat 1.2-0, metafor 3.8-1
# (Debian r-cran-* packages).  The versions actually used are stored in the
# JSON under "meta".  exactci, exact2x2 and DescTools are NOT packaged for this
# Debian release, so mid-p intervals, the tight conditional MLE and the
# Breslow-Day test are written out below from the published formulas (each
# place says so and gives the reference); metafor::rma.mh is used as an
# independent cross-check of Breslow-Day / Tarone.
#
# JSON conventions
#   * Doubles are written with the shortest of %.15g/%.16g/%.17g that
#     round-trips to the same double.  Integers are JSON integers.
#   * NA -> null; non-finite doubles -> the strings "inf", "-inf", "nan"
#     (Python: float(s)).
#   * Every record carries "dataset" plus its option fields; see the
#     comments of each section below and README-style notes in "meta".
#
# Cross-checks: the script stop()s if any of the internal consistency checks
# (R function vs. an independent formula) fails; the maximum discrepancies are
# stored in meta$checks.

suppressPackageStartupMessages({
  library(jsonlite)
  library(VGAM)
  library(epitools)
  library(metadat)
  library(metafor)
  library(parallel)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"
outfile <- file.path(outdir, "stats_refs.json")

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

# Root finder used everywhere: Brent (uniroot) with an absolute tolerance far
# below the double spacing of the answers (R's zeroin adds 2*eps*|x| itself).
root <- function(f, lo, hi, tol = 1e-15) {
  uniroot(f, c(lo, hi), tol = tol, maxiter = 10000)$root
}
logsumexp <- function(v) { m <- max(v); if (!is.finite(m)) return(m); m + log(sum(exp(v - m))) }
logaddexp <- function(x, y) {
  m <- pmax(x, y)
  out <- m + log1p(exp(-abs(x - y)))
  out[is.infinite(m) & m < 0] <- -Inf
  out
}

###############################################################################
# Datasets
###############################################################################
one_arm <- function(group, events, trials, source, ...) {
  stopifnot(length(group) == length(events), length(events) == length(trials),
            all(events >= 0), all(events <= trials))
  c(list(type = "one-arm", source = source, group = as.character(group),
         events = as.integer(events), trials = as.integer(trials)), list(...))
}
two_arm <- function(study, et, nt, ec, nc, source, ...) {
  stopifnot(all(et <= nt), all(ec <= nc))
  c(list(type = "two-arm", source = source, study = as.character(study),
         events_treat = as.integer(et), trials_treat = as.integer(nt),
         events_ctrl = as.integer(ec), trials_ctrl = as.integer(nc)), list(...))
}

datasets <- list()

datasets$surgical <- one_arm(
  LETTERS[1:12],
  c(0, 18, 8, 46, 8, 13, 9, 31, 14, 8, 29, 24),
  c(47, 148, 119, 810, 211, 196, 148, 215, 207, 97, 256, 360),
  paste("BUGS / OpenBUGS Examples Vol. I, 'Surgical: Institutional ranking'",
        "(cardiac surgery in babies, 12 hospitals A..L; r deaths of n operations)."))

# Tarone (1982) / Gelman et al., BDA3 Table 5.1 (data file rats.asc):
# 70 historical experiments followed by the current one (4/14) as row 71.
rat_y <- c(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
           2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 5, 2, 5, 3, 2, 7, 7, 3, 3, 2, 9, 10,
           4, 4, 4, 4, 4, 4, 4, 10, 4, 4, 4, 5, 11, 12, 5, 5, 6, 5, 6, 6, 6, 6,
           16, 15, 15, 9, 4)
rat_n <- c(20, 20, 20, 20, 20, 20, 20, 19, 19, 19, 19, 18, 18, 17, 20, 20, 20,
           20, 19, 19, 18, 18, 25, 24, 23, 20, 20, 20, 20, 20, 20, 10, 49, 19,
           46, 27, 17, 49, 47, 20, 20, 13, 48, 50, 20, 20, 20, 20, 20, 20, 20,
           48, 19, 19, 19, 22, 46, 49, 20, 20, 23, 19, 22, 20, 20, 20, 52, 46,
           47, 24, 14)
stopifnot(length(rat_y) == 71, sum(rat_y) == 267, sum(rat_n) == 1739,
          sum(rat_y[1:70]) == 263, sum(rat_n[1:70]) == 1725)
datasets$rat_tumors <- one_arm(
  sprintf("%02d", 1:71), rat_y, rat_n,
  paste("Tarone (1982, Statistics in Medicine 1:67) rat endometrial stromal polyp",
        "data as in Gelman et al., Bayesian Data Analysis 3rd ed., Table 5.1",
        "(file rats.asc): 70 historical experiments, then the current one (4/14)",
        "as group 71.  Totals 267/1739 (historical only: 263/1725)."))

datasets$smokers <- one_arm(
  c("1", "2", "3", "4"), c(83, 90, 129, 70), c(86, 93, 136, 82),
  "R example ?prop.test / ?prop.trend.test: smokers <- c(83, 90, 129, 70); patients <- c(86, 93, 136, 82).")

data(finney44, package = "VGAM", envir = environment())
datasets$finney44 <- one_arm(
  format(finney44$pconc), finney44$unhatched, finney44$hatched + finney44$unhatched,
  paste("VGAM::finney44 (Finney 1944, toxicity trial for insects): 6 concentration",
        "groups; events = unhatched eggs, trials = hatched + unhatched; 'dose' = pconc",
        "(used as user scores in the trend test)."),
  dose = finney44$pconc)

datasets$fisher_moderate <- one_arm(
  LETTERS[1:8], c(5, 19, 8, 27, 7, 22, 11, 30),
  c(120, 180, 150, 310, 240, 260, 200, 400),
  paste("Synthetic, made up for this file: 8 groups, 100-400 trials each (1860 in",
        "total, 129 events); moderately heterogeneous.  fisher.test needs",
        "workspace = 2e8 (about 50 s)."))

datasets$fisher_small <- one_arm(
  LETTERS[1:4], c(1, 3, 0, 5), c(8, 7, 8, 7),
  "Synthetic, made up for this file: 4 groups, 30 trials in total, 9 events.")

bcg <- metadat::dat.bcg
datasets$dat_bcg <- two_arm(
  paste(bcg$author, bcg$year), bcg$tpos, bcg$tpos + bcg$tneg,
  bcg$cpos, bcg$cpos + bcg$cneg,
  paste("metadat::dat.bcg (Colditz et al. 1994, BCG vaccine trials): treat = vaccinated",
        "(tpos, tpos+tneg), ctrl = not vaccinated (cpos, cpos+cneg), events = TB positive;",
        "study = paste(author, year)."))

# ?mantelhaen.test example (Rabbits, Penicillin level strata).  Array layout
# [Delay, Response, Level]; treat = Delay "None", ctrl = Delay "1.5h",
# events = "Cured".
Rabbits <- array(c(0, 0, 6, 5,
                   3, 0, 3, 6,
                   6, 2, 0, 4,
                   5, 6, 1, 0,
                   2, 5, 0, 0),
                 dim = c(2, 2, 5),
                 dimnames = list(Delay = c("None", "1.5h"),
                                 Response = c("Cured", "Died"),
                                 Penicillin.Level = c("1/8", "1/4", "1/2", "1", "4")))
datasets$rabbits <- two_arm(
  dimnames(Rabbits)[[3]], Rabbits[1, 1, ], Rabbits[1, 1, ] + Rabbits[1, 2, ],
  Rabbits[2, 1, ], Rabbits[2, 1, ] + Rabbits[2, 2, ],
  paste("R example ?mantelhaen.test 'Rabbits' (Penicillin and rabbits): strata =",
        "penicillin level; treat = immediate injection (Delay 'None'), ctrl = 1.5h",
        "delay; events = cured.  NOTE: strata '1/8' (nobody cured) and '4'",
        "(everybody cured) are degenerate (a zero column margin)."))

ucb <- datasets::UCBAdmissions   # [Admit, Gender, Dept]
datasets$ucb_admissions <- two_arm(
  dimnames(ucb)$Dept, ucb["Admitted", "Male", ], ucb["Admitted", "Male", ] + ucb["Rejected", "Male", ],
  ucb["Admitted", "Female", ], ucb["Admitted", "Female", ] + ucb["Rejected", "Female", ],
  paste("R datasets::UCBAdmissions reshaped: strata = department A-F;",
        "treat = Male, ctrl = Female; events = Admitted."))

# 2 x 2 x K array in mantelhaen.test layout: [arm (treat, ctrl), outcome (event, non-event), stratum]
as_array <- function(d) {
  K <- length(d$study)
  a <- array(0, dim = c(2, 2, K))
  a[1, 1, ] <- d$events_treat; a[1, 2, ] <- d$trials_treat - d$events_treat
  a[2, 1, ] <- d$events_ctrl;  a[2, 2, ] <- d$trials_ctrl - d$events_ctrl
  a
}
stopifnot(all(as_array(datasets$rabbits) == Rabbits))

###############################################################################
# 1. pooled_proportion
###############################################################################
# Record: dataset, x, n, method, conf_level, estimate (= x/n), se
# (= sqrt(phat(1-phat)/n), 0 at x = 0 or n), low, high, low_raw, high_raw,
# r_source.
#   low/high     : the interval with the usual convention applied:
#                  wald, agresti-coull: clipped to [0, 1];
#                  jeffreys: Brown, Cai & DasGupta (2001) convention
#                  low = 0 at x = 0 and high = 1 at x = n;
#                  all other methods are already inside [0, 1] and have
#                  low = 0 at x = 0 and high = 1 at x = n exactly.
#   low_raw/high_raw : the same before clipping (wald/agresti-coull: the plain
#                  formula; jeffreys: plain qbeta(); others: = low/high).
prop_ci <- function(x, n, method, conf) {
  alpha <- 1 - conf
  z <- qnorm(1 - alpha / 2)
  ph <- x / n
  src <- ""
  if (method == "wald") {
    raw <- ph + c(-1, 1) * z * sqrt(ph * (1 - ph) / n)
    ci <- pmin(pmax(raw, 0), 1)
    src <- "phat -/+ qnorm(1-alpha/2)*sqrt(phat(1-phat)/n); low/high clipped to [0,1]"
  } else if (method == "wilson") {
    ci <- raw <- as.numeric(suppressWarnings(
      prop.test(x, n, conf.level = conf, correct = FALSE))$conf.int)
    src <- "stats::prop.test(x, n, correct = FALSE)$conf.int"
    # independent: Wilson (1927) closed form
    den <- n + z^2
    ind <- (x + z^2 / 2) / den + c(-1, 1) * z * sqrt(n) / den * sqrt(ph * (1 - ph) + z^2 / (4 * n))
    check("wilson_closed_form", ci, pmin(pmax(ind, 0), 1), 1e-12, rel = FALSE)
    ew <- epitools::binom.wilson(x, n, conf.level = conf)
    check("wilson_vs_epitools", ci, c(ew$lower, ew$upper), 1e-12, rel = FALSE)
  } else if (method == "wilson-cc") {
    ci <- raw <- as.numeric(suppressWarnings(
      prop.test(x, n, conf.level = conf, correct = TRUE))$conf.int)
    src <- paste("stats::prop.test(x, n, correct = TRUE)$conf.int (NB: R uses",
                 "min(0.5, |x - n/2|) as the correction, p0 = 0.5; here |x - n/2| >= 0.5 always)")
    stopifnot(abs(x - n / 2) >= 0.5)
    # independent: Newcombe (1998, Stat Med 17:857) method 4
    L <- if (x == 0) 0 else (2 * x + z^2 - 1 - z * sqrt(z^2 - 2 - 1 / n + 4 * ph * (n * (1 - ph) + 1))) / (2 * (n + z^2))
    U <- if (x == n) 1 else (2 * x + z^2 + 1 + z * sqrt(z^2 + 2 - 1 / n + 4 * ph * (n * (1 - ph) - 1))) / (2 * (n + z^2))
    check("wilson_cc_newcombe", ci, c(max(L, 0), min(U, 1)), 1e-12, rel = FALSE)
  } else if (method == "clopper-pearson") {
    ci <- raw <- as.numeric(binom.test(x, n, conf.level = conf)$conf.int)
    src <- "stats::binom.test(x, n)$conf.int"
    ind <- c(if (x == 0) 0 else qbeta(alpha / 2, x, n - x + 1),
             if (x == n) 1 else qbeta(1 - alpha / 2, x + 1, n - x))
    check("clopper_pearson_qbeta", ci, ind, 1e-13)
    ee <- epitools::binom.exact(x, n, conf.level = conf)
    check("clopper_pearson_vs_epitools", ci, c(ee$lower, ee$upper), 1e-13)
    # the defining tail equations
    if (x > 0) check("clopper_pearson_tail", pbinom(x - 1, n, ci[1], lower.tail = FALSE), alpha / 2, 1e-10)
    if (x < n) check("clopper_pearson_tail", pbinom(x, n, ci[2]), alpha / 2, 1e-10)
  } else if (method == "jeffreys") {
    raw <- c(qbeta(alpha / 2, x + 0.5, n - x + 0.5), qbeta(1 - alpha / 2, x + 0.5, n - x + 0.5))
    ci <- c(if (x == 0) 0 else raw[1], if (x == n) 1 else raw[2])
    src <- "qbeta(c(alpha/2, 1-alpha/2), x+0.5, n-x+0.5); low/high: low=0 at x=0, high=1 at x=n (Brown, Cai & DasGupta 2001)"
  } else if (method == "agresti-coull") {
    nt <- n + z^2
    pt <- (x + z^2 / 2) / nt
    raw <- pt + c(-1, 1) * z * sqrt(pt * (1 - pt) / nt)
    ci <- pmin(pmax(raw, 0), 1)
    src <- paste("Agresti & Coull (1998) / Brown, Cai & DasGupta (2001): n~ = n + z^2,",
                 "p~ = (x + z^2/2)/n~, p~ -/+ z sqrt(p~(1-p~)/n~), z = qnorm(1-alpha/2); low/high clipped to [0,1]")
  } else if (method == "likelihood-ratio") {
    q <- qchisq(conf, 1)
    dev <- function(p) 2 * ((if (x > 0) x * log(x / (n * p)) else 0) +
                            (if (x < n) (n - x) * log((n - x) / (n * (1 - p))) else 0)) - q
    L <- if (x == 0) 0 else root(dev, 1e-300, ph)
    U <- if (x == n) 1 else root(dev, ph, 1 - 1e-16)
    ci <- raw <- c(L, U)
    src <- paste("uniroot of the binomial deviance 2[x log(x/(n p)) + (n-x) log((n-x)/(n(1-p)))]",
                 "= qchisq(conf, 1), 0 log 0 = 0; low = 0 at x = 0, high = 1 at x = n")
    if (x == 0) check("lr_closed_form_x0", U, -expm1(-q / (2 * n)), 1e-13)
    if (x == n) check("lr_closed_form_xn", L, exp(-q / (2 * n)), 1e-13)
  } else if (method == "mid-p") {
    # lower: P(X > x) + P(X = x)/2 = alpha/2 ; upper: P(X < x) + P(X = x)/2 = alpha/2
    fl <- function(p) pbinom(x, n, p, lower.tail = FALSE) + 0.5 * dbinom(x, n, p) - alpha / 2
    fu <- function(p) pbinom(x - 1, n, p) + 0.5 * dbinom(x, n, p) - alpha / 2
    L <- if (x == 0) 0 else root(fl, 0, 1)
    U <- if (x == n) 1 else root(fu, 0, 1)
    ci <- raw <- c(L, U)
    src <- paste("own uniroot on the mid-p tail equations (Lancaster 1961; Berry & Armitage 1995):",
                 "P(X>x)+P(X=x)/2 = alpha/2 (low), P(X<x)+P(X=x)/2 = alpha/2 (high);",
                 "low = 0 at x = 0, high = 1 at x = n (exactci is not available)")
    if (x == 0) check("midp_closed_form_x0", U, 1 - alpha^(1 / n), 1e-13)
    if (x == n) check("midp_closed_form_xn", L, alpha^(1 / n), 1e-13)
  } else stop(method)
  list(estimate = ph, se = sqrt(ph * (1 - ph) / n), low = ci[1], high = ci[2],
       low_raw = raw[1], high_raw = raw[2], r_source = src)
}

pp_methods <- c("wald", "wilson", "wilson-cc", "clopper-pearson", "jeffreys",
                "agresti-coull", "likelihood-ratio", "mid-p")
pp_cases <- list(
  list(dataset = "surgical", x = sum(datasets$surgical$events), n = sum(datasets$surgical$trials)),
  list(dataset = "rat_tumors", x = sum(datasets$rat_tumors$events), n = sum(datasets$rat_tumors$trials)),
  list(dataset = "x0_n20", x = 0L, n = 20L),
  list(dataset = "x20_n20", x = 20L, n = 20L),
  list(dataset = "x3_n17", x = 3L, n = 17L))
pooled <- list()
for (cs in pp_cases) for (conf in c(0.95, 0.90)) for (m in pp_methods) {
  r <- prop_ci(cs$x, cs$n, m, conf)
  pooled[[length(pooled) + 1]] <- c(list(dataset = cs$dataset, x = as.integer(cs$x), n = as.integer(cs$n),
                                         method = m, conf_level = conf), r)
}

###############################################################################
# 2. homogeneity (k x 2 table of events / non-events)
###############################################################################
# Records: dataset, test in {"pearson", "g-test", "fisher-exact"}.
#  pearson : statistic, df, pvalue, min_expected, r_warning (chisq.test warning
#            text or null); chisq.test(cbind(events, trials-events), correct=FALSE).
#  g-test  : statistic = 2 sum O log(O/E) over all 2k cells (0 log 0 = 0),
#            df = k-1, pvalue = pchisq upper tail.  (own code; R has no G-test)
#  fisher-exact : status "ok" | "error" | "timeout", pvalue (null unless ok),
#            message, workspace, hybrid = false, time_limit_s.
#            fisher.test(cbind(events, trials-events), workspace=2e8, hybrid=FALSE)
#            run in a forked child with a time limit, because FEXACT cannot be
#            interrupted.  Two-sided p: sum of P(table) <= P(obs)*(1+1e-7).
run_fisher <- function(tab, workspace = 2e8, limit = 120) {
  job <- mcparallel(tryCatch(list(status = "ok", p = fisher.test(tab, workspace = workspace, hybrid = FALSE)$p.value,
                                  msg = NULL),
                             error = function(e) list(status = "error", p = NA_real_, msg = conditionMessage(e))),
                    silent = TRUE)
  res <- mccollect(job, wait = FALSE, timeout = limit)
  if (is.null(res)) {
    tools::pskill(job$pid, tools::SIGKILL)
    suppressWarnings(mccollect(job, wait = TRUE))
    return(list(status = "timeout", p = NA_real_,
                msg = sprintf("fisher.test did not finish within %d s (killed)", limit)))
  }
  res[[1]]
}

# Independent exact Fisher-Freeman-Halton p for small k x 2 tables: enumerate
# every table with the same margins (multivariate hypergeometric).
enum_fisher <- function(x, n) {
  m <- sum(x); N <- sum(n); k <- length(n)
  rec <- function(i, rem) {
    if (i == k) return(if (rem <= n[k]) matrix(rem, 1, 1) else NULL)
    out <- NULL
    for (v in 0:min(n[i], rem)) { s <- rec(i + 1, rem - v); if (!is.null(s)) out <- rbind(out, cbind(v, s)) }
    out
  }
  tabs <- rec(1, m)
  lp <- colSums(lchoose(n, t(tabs))) - lchoose(N, m)
  lobs <- sum(lchoose(n, x)) - lchoose(N, m)
  check("enum_fisher_total_prob", sum(exp(lp)), 1, 1e-12)
  list(p = sum(exp(lp[lp <= lobs + log1p(1e-7)])), ntables = nrow(tabs))
}

homog <- list()
fisher_limit <- c(rat_tumors = 120)
for (nm in c("surgical", "rat_tumors", "smokers", "finney44", "fisher_moderate", "fisher_small")) {
  d <- datasets[[nm]]
  x <- d$events; n <- d$trials; k <- length(x)
  tab <- cbind(x, n - x)
  warn <- NULL
  ct <- withCallingHandlers(chisq.test(tab, correct = FALSE),
                            warning = function(w) { warn <<- conditionMessage(w); invokeRestart("muffleWarning") })
  E <- outer(n, colSums(tab)) / sum(n)
  check("pearson_formula", ct$statistic, sum((tab - E)^2 / E), 1e-12)
  homog[[length(homog) + 1]] <- list(dataset = nm, test = "pearson", statistic = unname(ct$statistic),
                                     df = unname(as.integer(ct$parameter)), pvalue = ct$p.value,
                                     min_expected = min(E), r_warning = warn,
                                     r_source = "stats::chisq.test(cbind(events, trials-events), correct = FALSE)")
  G <- 2 * sum(ifelse(tab > 0, tab * log(tab / E), 0))
  homog[[length(homog) + 1]] <- list(dataset = nm, test = "g-test", statistic = G, df = k - 1L,
                                     pvalue = pchisq(G, k - 1, lower.tail = FALSE),
                                     r_source = "own: 2*sum(O*log(O/E)), 0*log(0)=0, df=k-1")
  lim <- if (nm %in% names(fisher_limit)) fisher_limit[[nm]] else 600
  ft <- run_fisher(tab, 2e8, lim)
  rec <- list(dataset = nm, test = "fisher-exact", status = ft$status, pvalue = ft$p,
              message = ft$msg, workspace = 2e8, hybrid = FALSE, time_limit_s = lim,
              r_source = "stats::fisher.test(cbind(events, trials-events), workspace = 2e8, hybrid = FALSE)")
  if (nm %in% c("fisher_small", "smokers")) {
    # enumerate over the smaller column so the number of tables stays small
    ee <- if (sum(x) <= sum(n - x)) enum_fisher(x, n) else enum_fisher(n - x, n)
    check("fisher_vs_enumeration", ft$p, ee$p, 1e-10)
    rec$pvalue_enumeration <- ee$p
    rec$n_tables_enumerated <- ee$ntables
  }
  homog[[length(homog) + 1]] <- rec
  cat(sprintf("homogeneity %-16s fisher: %s %s\n", nm, ft$status, format(ft$p)))
}

###############################################################################
# 3. tarone: Tarone (1979, Biometrika 66:585-590) score test of the binomial
#    against the beta-binomial (overdispersion).  Own code from the paper:
#    p = sum x / sum n,  S = sum (x_i - n_i p)^2 / (p (1-p)),
#    Z = (S - sum n_i) / sqrt(2 sum n_i (n_i - 1)),  pvalue = P(N(0,1) > Z).
###############################################################################
tarone <- list()
for (nm in c("surgical", "rat_tumors", "smokers", "finney44", "fisher_moderate", "fisher_small")) {
  d <- datasets[[nm]]; x <- d$events; n <- d$trials
  p <- sum(x) / sum(n)
  S <- sum((x - n * p)^2) / (p * (1 - p))
  Z <- (S - sum(n)) / sqrt(2 * sum(n * (n - 1)))
  tarone[[length(tarone) + 1]] <- list(dataset = nm, p_pooled = p, S = S, statistic = Z,
                                       pvalue = pnorm(Z, lower.tail = FALSE),
                                       alternative = "greater (overdispersion)")
}

###############################################################################
# 4. trend: stats::prop.trend.test (Cochran-Armitage chi-square, df = 1,
#    two-sided p).  Records: dataset, scores_option "default" (1..k) or "user",
#    scores, statistic, df, pvalue, z_signed = sign(slope) * sqrt(statistic)
#    (slope of the weighted regression of x/n on score; own Cochran-Armitage
#    z = sum x_i (s_i - sbar) / sqrt(pbar(1-pbar) sum n_i (s_i - sbar)^2) with
#    sbar = sum n_i s_i / N checked to equal it), pvalue_greater =
#    P(N(0,1) > z_signed), and statistic_n_minus_1 = statistic * (N-1)/N
#    (Agresti's M^2 = (N-1) r^2 variant; R uses the N version).
###############################################################################
trend <- list()
trend_cases <- list(
  list(dataset = "smokers", scores_option = "default", scores = 1:4),
  list(dataset = "smokers", scores_option = "user", scores = c(0, 1, 2, 4)),
  list(dataset = "finney44", scores_option = "default", scores = 1:6),
  list(dataset = "finney44", scores_option = "user", scores = datasets$finney44$dose))
for (tc in trend_cases) {
  d <- datasets[[tc$dataset]]; x <- d$events; n <- d$trials; s <- as.numeric(tc$scores)
  pt <- if (tc$scores_option == "default") prop.trend.test(x, n) else prop.trend.test(x, n, score = s)
  N <- sum(n); pbar <- sum(x) / N; sbar <- sum(n * s) / N
  zc <- sum(x * (s - sbar)) / sqrt(pbar * (1 - pbar) * sum(n * (s - sbar)^2))
  freq <- x / n; w <- n / pbar / (1 - pbar)
  slope <- unname(coef(lm(freq ~ s, weights = w))[2])
  zs <- sign(slope) * sqrt(unname(pt$statistic))
  check("trend_cochran_armitage_z", zs, zc, 1e-10)
  trend[[length(trend) + 1]] <- list(dataset = tc$dataset, scores_option = tc$scores_option,
                                     scores = I(s), statistic = unname(pt$statistic), df = 1L,
                                     pvalue = pt$p.value, z_signed = zs,
                                     pvalue_greater = pnorm(zs, lower.tail = FALSE),
                                     statistic_n_minus_1 = unname(pt$statistic) * (N - 1) / N,
                                     r_source = if (tc$scores_option == "default") "stats::prop.trend.test(events, trials)"
                                                else "stats::prop.trend.test(events, trials, score = scores)")
}

###############################################################################
# 5. beta_binomial: VGAM::vglm(cbind(events, trials-events) ~ 1, betabinomial)
#    (links logitlink for mu and rho; Fisher scoring with the EXACT expected
#    information -- betabinomial(nsimEIM = NULL) default, VGAM's
#    expected.betabin.ab sums over the support).  vcov(fit) is the inverse
#    expected information on the link scale; se_mu = mu(1-mu) se(logit mu),
#    se_rho = rho(1-rho) se(logit rho) (delta method).
#    Parametrisation: a = mu (1-rho)/rho, b = (1-mu)(1-rho)/rho, rho = 1/(a+b+1).
#    VGAM's logLik uses dbetabinom.ab(log = TRUE), which INCLUDES log choose(n, x);
#    loglik = that; loglik_no_choose = loglik - sum(lchoose(n, x)).
#    Independent checks: own MLE by optim on own log-likelihood
#    lchoose(n,x) + lbeta(x+a, n-x+b) - lbeta(a,b); own expected information
#    (sum over the support of score outer products, digamma form) and observed
#    information (trigamma form), both transformed to (mu, rho).
###############################################################################
bb_ll <- function(eta, x, n) {
  mu <- plogis(eta[1]); rho <- plogis(eta[2])
  a <- mu * (1 - rho) / rho; b <- (1 - mu) * (1 - rho) / rho
  sum(lchoose(n, x) + lbeta(x + a, n - x + b) - lbeta(a, b))
}
bb_info <- function(mu, rho, x, n) {
  a <- mu * (1 - rho) / rho; b <- (1 - mu) * (1 - rho) / rho
  Iexp <- matrix(0, 2, 2); Iobs <- matrix(0, 2, 2)
  for (i in seq_along(n)) {
    y <- 0:n[i]
    ly <- lchoose(n[i], y) + lbeta(y + a, n[i] - y + b) - lbeta(a, b)
    py <- exp(ly); py <- py / sum(py)
    sa <- digamma(y + a) - digamma(n[i] + a + b) - digamma(a) + digamma(a + b)
    sb <- digamma(n[i] - y + b) - digamma(n[i] + a + b) - digamma(b) + digamma(a + b)
    Iexp <- Iexp + matrix(c(sum(py * sa * sa), sum(py * sa * sb), sum(py * sa * sb), sum(py * sb * sb)), 2)
    xi <- x[i]
    haa <- trigamma(xi + a) - trigamma(n[i] + a + b) - trigamma(a) + trigamma(a + b)
    hbb <- trigamma(n[i] - xi + b) - trigamma(n[i] + a + b) - trigamma(b) + trigamma(a + b)
    hab <- -trigamma(n[i] + a + b) + trigamma(a + b)
    Iobs <- Iobs - matrix(c(haa, hab, hab, hbb), 2)
  }
  # Jacobian d(a, b) / d(mu, rho)
  J <- matrix(c((1 - rho) / rho, -(1 - rho) / rho, -mu / rho^2, -(1 - mu) / rho^2), 2)
  list(exp = t(J) %*% Iexp %*% J, obs = t(J) %*% Iobs %*% J)
}
bbin <- list()
for (nm in c("rat_tumors", "surgical")) {
  d <- datasets[[nm]]; x <- d$events; n <- d$trials
  df <- data.frame(x = x, n = n)
  fit <- vglm(cbind(x, n - x) ~ 1, betabinomial, data = df,
              control = vglm.control(epsilon = 1e-13, maxit = 200))
  eta <- unname(coef(fit)); V <- unname(vcov(fit))
  mu <- plogis(eta[1]); rho <- plogis(eta[2])
  se_eta <- sqrt(diag(V))
  se_mu <- mu * (1 - mu) * se_eta[1]; se_rho <- rho * (1 - rho) * se_eta[2]
  ll_vgam <- as.numeric(logLik(fit))
  ll_own <- bb_ll(eta, x, n)
  check("bb_loglik_vgam_vs_own", ll_vgam, ll_own, 1e-12)
  # own MLE
  o <- optim(eta, function(e) -bb_ll(e, x, n), method = "BFGS",
             control = list(reltol = 1e-15, maxit = 10000))
  o <- optim(o$par, function(e) -bb_ll(e, x, n), method = "Nelder-Mead",
             control = list(reltol = 1e-16, maxit = 20000))
  check("bb_mle_vgam_vs_optim_eta", eta, o$par, 2e-6, rel = FALSE)
  check("bb_loglik_max_vgam_vs_optim", ll_vgam, -o$value, 1e-12)
  info <- bb_info(mu, rho, x, n)
  se_exp <- sqrt(diag(solve(info$exp))); se_obs <- sqrt(diag(solve(info$obs)))
  check("bb_se_vgam_vs_own_expected", c(se_mu, se_rho), se_exp, 1e-6)
  p <- sum(x) / sum(n)
  ll_bin <- sum(dbinom(x, n, p, log = TRUE))
  stat <- 2 * (ll_vgam - ll_bin)
  a <- mu * (1 - rho) / rho; b <- (1 - mu) * (1 - rho) / rho
  bbin[[length(bbin) + 1]] <- list(
    dataset = nm, mu = mu, rho = rho, se_mu = se_mu, se_rho = se_rho,
    logit_mu = eta[1], logit_rho = eta[2], se_logit_mu = se_eta[1], se_logit_rho = se_eta[2],
    vcov_link = I(V), information = "expected (Fisher scoring, exact EIM; VGAM)",
    se_mu_observed_info = se_obs[1], se_rho_observed_info = se_obs[2],
    shape_a = a, shape_b = b,
    loglik = ll_vgam, loglik_no_choose = ll_vgam - sum(lchoose(n, x)),
    loglik_binomial = ll_bin, loglik_binomial_no_choose = ll_bin - sum(lchoose(n, x)),
    lrt_statistic = stat, lrt_pvalue = 0.5 * pchisq(stat, 1, lower.tail = FALSE),
    vgam_iterations = fit@iter,
    r_source = "VGAM::vglm(cbind(events, trials-events) ~ 1, betabinomial, control = vglm.control(epsilon = 1e-13, maxit = 200))")
}

###############################################################################
# 6. cmh: stats::mantelhaen.test on the 2 x 2 x K array
#    [arm (treat, ctrl), outcome (event, non-event), stratum].
#  method "asymptotic", correct TRUE/FALSE: statistic (df 1), pvalue,
#    estimate = Mantel-Haenszel common OR, conf_low/high = Robins-Breslow-
#    Greenland (1986) CI (conf 0.95).  R applies the 0.5 correction only if
#    |sum(a - E)| >= 0.5.  Checked against own formulas.
#  method "exact": R's exact conditional test; statistic S = sum of treat
#    events; pvalue (two-sided, sum of d <= d(obs)*(1+1e-7)), estimate =
#    conditional MLE, conf = exact conditional (Cornfield-type tail) interval
#    -- these three solved by R with uniroot's DEFAULT tol (~1.2e-4), so only
#    good to ~4 digits.  The *_tight fields: own implementation -- the
#    conditional distribution of S is the convolution over strata of the
#    (central) hypergeometric weights choose(n1,a) choose(n2,m1-a), done in log
#    space; at odds ratio psi the weights are multiplied by psi^s (noncentral
#    hypergeometric).  MLE: E_psi[S] = s_obs; conf_low: P_psi(S >= s_obs) =
#    alpha/2; conf_high: P_psi(S <= s_obs) = alpha/2; all by uniroot on
#    log(psi) with tol = 1e-12.  pvalue_tight: same two-sided rule as R, in
#    log space (no underflow).
###############################################################################
cmh_exact_own <- function(arr, conf = 0.95) {
  K <- dim(arr)[3]
  logW <- 0; lo <- 0   # log weights of S = lo + 0, 1, ...
  for (k in 1:K) {
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
  sup <- lo + seq_along(logW) - 1
  s <- sum(arr[1, 1, ]); hi <- max(sup)
  logd <- function(theta) { v <- logW + theta * sup; v - logsumexp(v) }
  mean_fn <- function(theta) sum(sup * exp(logd(theta)))
  alpha <- (1 - conf) / 2
  ld0 <- logd(0)
  pval <- exp(logsumexp(ld0[ld0 <= ld0[s - lo + 1] + log1p(1e-7)]))
  lim <- 50
  mle <- if (s == lo) 0 else if (s == hi) Inf else
    exp(uniroot(function(t) mean_fn(t) - s, c(-lim, lim), tol = 1e-12, maxiter = 10000)$root)
  cl <- if (s == lo) 0 else
    exp(uniroot(function(t) { l <- logd(t); logsumexp(l[sup >= s]) - log(alpha) }, c(-lim, lim), tol = 1e-12, maxiter = 10000)$root)
  cu <- if (s == hi) Inf else
    exp(uniroot(function(t) { l <- logd(t); logsumexp(l[sup <= s]) - log(alpha) }, c(-lim, lim), tol = 1e-12, maxiter = 10000)$root)
  tails <- c(exp(logsumexp(logd(log(cl))[sup >= s])), exp(logsumexp(logd(log(cu))[sup <= s])))
  list(s = s, lo = lo, hi = hi, pvalue = pval, log_pvalue = log(pval), mle = mle, conf = c(cl, cu),
       mean_at_mle = mean_fn(log(mle)), tails_at_ci = tails)
}

cmh <- list()
for (nm in c("dat_bcg", "rabbits", "ucb_admissions")) {
  arr <- as_array(datasets[[nm]])
  a <- arr[1, 1, ]; b <- arr[1, 2, ]; c_ <- arr[2, 1, ]; d_ <- arr[2, 2, ]
  N <- a + b + c_ + d_; n1 <- a + b; n2 <- c_ + d_; m1 <- a + c_; m2 <- b + d_
  E <- n1 * m1 / N; Vh <- n1 * n2 * m1 * m2 / (N^2 * (N - 1))
  R <- a * d_ / N; S <- b * c_ / N; P <- (a + d_) / N; Q <- (b + c_) / N
  or_mh <- sum(R) / sum(S)
  var_log <- sum(P * R) / (2 * sum(R)^2) + sum(P * S + Q * R) / (2 * sum(R) * sum(S)) + sum(Q * S) / (2 * sum(S)^2)
  for (corr in c(TRUE, FALSE)) {
    mt <- mantelhaen.test(arr, correct = corr)
    delta <- sum(a - E)
    yates <- if (corr && abs(delta) >= 0.5) 0.5 else 0
    check("cmh_statistic_formula", mt$statistic, (abs(delta) - yates)^2 / sum(Vh), 1e-12)
    check("cmh_mh_or_formula", mt$estimate, or_mh, 1e-12)
    check("cmh_rgb_ci_formula", mt$conf.int, or_mh * exp(c(-1, 1) * qnorm(0.975) * sqrt(var_log)), 1e-12)
    cmh[[length(cmh) + 1]] <- list(dataset = nm, method = "asymptotic", correct = corr, conf_level = 0.95,
                                   statistic = unname(mt$statistic), df = 1L, pvalue = mt$p.value,
                                   estimate = unname(mt$estimate), conf_low = mt$conf.int[1], conf_high = mt$conf.int[2],
                                   se_log_estimate = sqrt(var_log),
                                   r_source = sprintf("stats::mantelhaen.test(x, correct = %s)", corr))
  }
  me <- mantelhaen.test(arr, exact = TRUE)
  own <- cmh_exact_own(arr)
  check("cmh_exact_pvalue_R_vs_own", me$p.value, own$pvalue, 1e-9)
  # R's uniroot works on psi in (0, 1) or on 1/psi in (eps, 1) with absolute
  # tol ~1.2e-4, so compare on that scale (rabbits' upper limit ~531 is off by 0.3%).
  on_r_scale <- function(v) ifelse(v > 1, 1 / v, v)
  check("cmh_exact_mle_R_vs_tight_rootscale", on_r_scale(me$estimate), on_r_scale(own$mle), 2.5e-4, rel = FALSE)
  check("cmh_exact_ci_R_vs_tight_rootscale", on_r_scale(me$conf.int), on_r_scale(own$conf), 2.5e-4, rel = FALSE)
  # the tight values satisfy their defining equations
  check("cmh_exact_tight_mle_equation", own$mean_at_mle, own$s, 1e-10)
  check("cmh_exact_tight_ci_tails", own$tails_at_ci, rep((1 - 0.95) / 2, 2), 1e-9)
  cmh[[length(cmh) + 1]] <- list(dataset = nm, method = "exact", conf_level = 0.95,
                                 statistic_S = as.integer(own$s), support_low = as.integer(own$lo), support_high = as.integer(own$hi),
                                 pvalue = me$p.value, estimate = unname(me$estimate),
                                 conf_low = me$conf.int[1], conf_high = me$conf.int[2],
                                 pvalue_tight = own$pvalue, log_pvalue_tight = own$log_pvalue,
                                 estimate_tight = own$mle, conf_low_tight = own$conf[1], conf_high_tight = own$conf[2],
                                 r_source = "stats::mantelhaen.test(x, exact = TRUE); *_tight: own log-space convolution + uniroot(tol = 1e-12) on log(psi)")
  cat(sprintf("cmh exact %-15s R p=%g own p=%g  R mle=%.10g tight=%.15g\n", nm, me$p.value, own$pvalue, me$estimate, own$mle))
}

###############################################################################
# 7. breslow_day: Breslow & Day (1980, IARC Sci Publ 32, sec. 4.4) test of
#    homogeneity of the odds ratios, with the Mantel-Haenszel OR, and Tarone's
#    (1985, Biometrika 72:91) correction.  Own code (DescTools not available):
#    for each stratum, E_k solves E (n2 - m1 + E) = psi (n1 - E)(m1 - E) with
#    E in [max(0, m1-n2), min(n1, m1)] (root of the quadratic
#    (1-psi) E^2 + (n2 - m1 + psi (n1 + m1)) E - psi n1 m1 = 0),
#    V_k = 1 / (1/E + 1/(n1-E) + 1/(m1-E) + 1/(n2-m1+E)),
#    BD = sum (a_k - E_k)^2 / V_k,  Tarone: BD - (sum a_k - sum E_k)^2 / sum V_k,
#    df = K_used - 1.  Strata with a zero margin (m1 = 0, m2 = 0, n1 = 0 or
#    n2 = 0) have a degenerate conditional distribution (V_k = 0, 0/0) and are
#    DROPPED (k_used < k_total; rabbits: strata "1/8" and "4").  The MH OR is
#    unaffected by such strata.  Cross-checked against metafor::rma.mh (BD, TA),
#    which drops the same strata.
###############################################################################
bd_own <- function(arr) {
  a <- arr[1, 1, ]; n1 <- arr[1, 1, ] + arr[1, 2, ]
  n2 <- arr[2, 1, ] + arr[2, 2, ]; m1 <- arr[1, 1, ] + arr[2, 1, ]; m2 <- arr[1, 2, ] + arr[2, 2, ]
  N <- n1 + n2
  psi <- sum(arr[1, 1, ] * arr[2, 2, ] / N) / sum(arr[1, 2, ] * arr[2, 1, ] / N)
  keep <- m1 > 0 & m2 > 0 & n1 > 0 & n2 > 0
  Ek <- Vk <- numeric(0)
  for (k in which(keep)) {
    lo <- max(0, m1[k] - n2[k]); hi <- min(n1[k], m1[k])
    A <- 1 - psi; B <- n2[k] - m1[k] + psi * (n1[k] + m1[k]); C <- -psi * n1[k] * m1[k]
    if (abs(A) < 1e-15) { e <- -C / B } else {
      r <- c((-B + sqrt(B^2 - 4 * A * C)) / (2 * A), (-B - sqrt(B^2 - 4 * A * C)) / (2 * A))
      e <- r[r >= lo - 1e-9 & r <= hi + 1e-9]
      stopifnot(length(e) == 1)
    }
    # polish / verify with an independent root search on the defining equation
    f <- function(E) log(E) + log(n2[k] - m1[k] + E) - log(n1[k] - E) - log(m1[k] - E) - log(psi)
    e2 <- uniroot(f, c(lo, hi) + c(1, -1) * 1e-12 * max(1, hi - lo), tol = 1e-14, maxiter = 10000)$root
    check("bd_quadratic_vs_uniroot", e, e2, 1e-9)
    Ek <- c(Ek, e)
    Vk <- c(Vk, 1 / (1 / e + 1 / (n1[k] - e) + 1 / (m1[k] - e) + 1 / (n2[k] - m1[k] + e)))
  }
  ak <- a[keep]
  bd <- sum((ak - Ek)^2 / Vk)
  ta <- bd - (sum(ak) - sum(Ek))^2 / sum(Vk)
  list(psi = psi, bd = bd, tarone = ta, k_used = sum(keep), k_total = length(keep),
       dropped = which(!keep))
}
breslow <- list()
for (nm in c("dat_bcg", "rabbits", "ucb_admissions")) {
  d <- datasets[[nm]]; arr <- as_array(d)
  own <- bd_own(arr)
  mf <- suppressWarnings(rma.mh(ai = arr[1, 1, ], bi = arr[1, 2, ], ci = arr[2, 1, ], di = arr[2, 2, ], measure = "OR"))
  check("bd_own_vs_metafor", own$bd, mf$BD, 1e-8)
  check("tarone_own_vs_metafor", own$tarone, mf$TA, 1e-8)
  dfree <- own$k_used - 1L
  for (tc in c(FALSE, TRUE)) {
    st <- if (tc) own$tarone else own$bd
    breslow[[length(breslow) + 1]] <- list(
      dataset = nm, tarone_correction = tc, statistic = st, df = dfree,
      pvalue = pchisq(st, dfree, lower.tail = FALSE), or_mh = own$psi,
      k_used = own$k_used, k_total = own$k_total,
      strata_dropped = I(d$study[own$dropped]),
      metafor_statistic = if (tc) mf$TA else mf$BD, metafor_pvalue = if (tc) mf$TAp else mf$BDp,
      r_source = "own Breslow-Day (Breslow & Day 1980; Tarone 1985); metafor::rma.mh(measure = 'OR') BD/TA as cross-check")
  }
}

###############################################################################
# 8. power: power of the Pearson chi-square homogeneity test (k x 2) from the
#    noncentral chi-square (Cohen 1988, ch. 7; Agresti 2013, sec. 6.6):
#    lambda = sum n_i (p_i - pbar)^2 / (pbar (1 - pbar)), pbar = sum n_i p_i / sum n_i,
#    power = 1 - pchisq(qchisq(1 - alpha, k-1), k-1, ncp = lambda).
#    Records (dataset = "p_0.10_0.15_0.20", a design, not a table): kind "power" (p, trials per group, alpha, lambda, critical_value,
#    power) and kind "sample_size" (target_power, n_per_group = smallest
#    integer n with power >= target (equal n), power at n and at n - 1).
###############################################################################
pw <- function(p, n, alpha = 0.05) {
  n <- rep_len(n, length(p)); k <- length(p)
  pbar <- sum(n * p) / sum(n)
  lam <- sum(n * (p - pbar)^2) / (pbar * (1 - pbar))
  crit <- qchisq(1 - alpha, k - 1)
  list(lambda = lam, critical_value = crit, power = pchisq(crit, k - 1, ncp = lam, lower.tail = FALSE))
}
power <- list()
pv <- c(0.10, 0.15, 0.20)
for (nn in c(50, 100, 200)) {
  r <- pw(pv, nn)
  power[[length(power) + 1]] <- c(list(dataset = "p_0.10_0.15_0.20", kind = "power", p = I(pv), trials_per_group = as.integer(nn),
                                       alpha = 0.05, df = length(pv) - 1L), r)
}
for (tg in c(0.8, 0.9)) {
  n <- 2
  while (pw(pv, n)$power < tg) n <- n + 1
  power[[length(power) + 1]] <- list(dataset = "p_0.10_0.15_0.20", kind = "sample_size", p = I(pv), alpha = 0.05, df = length(pv) - 1L,
                                     target_power = tg, n_per_group = as.integer(n),
                                     power_at_n = pw(pv, n)$power, power_at_n_minus_1 = pw(pv, n - 1)$power,
                                     lambda_at_n = pw(pv, n)$lambda)
}

###############################################################################
# Write JSON
###############################################################################
pkgs <- c("jsonlite", "VGAM", "epitools", "metadat", "metafor")
meta <- list(
  generator = "tests/reference/make_stats_refs.R (run: Rscript tests/reference/make_stats_refs.R from the project root)",
  r_version = R.version.string,
  packages = setNames(lapply(pkgs, function(p) as.character(packageVersion(p))), pkgs),
  unavailable_packages = I(c("exactci", "exact2x2", "DescTools")),
  conventions = list(
    numbers = "shortest of %.15g/%.16g/%.17g that round-trips; NA -> null; non-finite -> \"inf\"/\"-inf\"/\"nan\"",
    pooled_proportion = "low/high with conventions (wald, agresti-coull clipped to [0,1]; jeffreys low=0 at x=0, high=1 at x=n); low_raw/high_raw unclipped",
    beta_binomial = "VGAM uses expected information (Fisher scoring); loglik includes log choose(n,x)",
    cmh_exact = "R's estimate/conf are uniroot default tol (~1e-4); use *_tight for tight comparisons",
    breslow_day = "degenerate strata (a zero margin) are dropped; df = k_used - 1"),
  checks = checks)

out <- list(meta = meta, datasets = datasets, pooled_proportion = pooled, homogeneity = homog,
            tarone = tarone, trend = trend, beta_binomial = bbin, cmh = cmh,
            breslow_day = breslow, power = power)

fmt1 <- function(v) {
  if (is.na(v) && !is.nan(v)) return("null")
  if (is.nan(v)) return("\"nan\"")
  if (is.infinite(v)) return(if (v > 0) "\"inf\"" else "\"-inf\"")
  for (dg in 15:17) { s <- sprintf("%.*g", dg, v); if (as.numeric(s) == v) break }
  s
}
# doubles -> verbatim JSON; length-1 vectors become scalars unless wrapped in I();
# matrices become arrays of rows.
prep <- function(x) {
  if (is.null(x)) return(NULL)
  if (is.list(x)) { at <- attributes(x); y <- lapply(x, prep); attributes(y) <- at; return(y) }
  if (is.matrix(x) && is.double(x)) {
    rows <- apply(x, 1, function(r) paste0("[", paste(vapply(r, fmt1, ""), collapse = ","), "]"))
    return(structure(paste0("[", paste(rows, collapse = ","), "]"), class = "json"))
  }
  if (is.double(x)) {
    s <- vapply(as.numeric(x), fmt1, "")
    return(structure(if (length(x) == 1 && !inherits(x, "AsIs")) s else paste0("[", paste(s, collapse = ","), "]"),
                     class = "json"))
  }
  x   # non-double vectors: jsonlite keeps I() (AsIs) vectors as arrays
}
txt <- toJSON(prep(out), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, null = "null", na = "null")
# sanity: parses, and every double survives the round trip
back <- fromJSON(txt, simplifyVector = FALSE)
stopifnot(identical(back$beta_binomial[[1]]$mu, bbin[[1]]$mu),
          identical(back$pooled_proportion[[3]]$high, pooled[[3]]$high))
writeLines(txt, outfile)
cat("wrote", outfile, "\n")

#!/usr/bin/env Rscript
# Reference values for binfer.pooling meta_proportion / meta_two_arm, from metafor.
#
# Run from the project root:   Rscript tests/reference/make_meta_refs.R     (about 10 s)
# Writes tests/reference/meta_refs.json (next to this script). The output is deterministic.
#
# Produced with R 4.2.2, metafor 3.8-1, metadat 1.2-0, lme4 1.1-31 (Debian bookworm packages);
# the versions actually used are written into the JSON ("software").
#
# Conventions (what the tests rely on):
#   * Numbers are written with sprintf("%.17g") so they round-trip to the R doubles; NA -> null.
#   * The input counts of every dataset are in the JSON, so the tests need neither R nor metadat.
#   * rma() is called with metafor's defaults (add = 1/2, to = "only0", drop00 = FALSE, test = "z")
#     but with TIGHT iteration controls, threshold = 1e-12 (Fisher scoring for REML/ML), tol = 1e-12
#     (uniroot for PM and for the Q-profile CI of confint()), maxiter = 10000. metafor's defaults
#     (threshold 1e-5, tol ~1.2e-4) would only agree with an exact solution to about 1e-5.
#   * rma.glmm(measure = "PLO", method = "ML"): lme4::glmer with nAGQ = 7 (rma.glmm's default), with
#     control = list(glmerCtrl = glmm_tight): bobyqa to rhoend = 1e-10 and PIRLS to tolPwrss = 1e-12.
#     With lme4's defaults (tolPwrss = 1e-7) the deviance is noisy at ~1e-6, and on hand_zero_all
#     glmer stops with "failed to converge, max|grad| = 0.002": tau^2 is 8e-4 off and its
#     finite-difference Hessian gives se = 0.034 where the curvature of lme4's own deviance
#     function (central differences, h = 0.1) gives 1.3187 (var 1.7390), as the tight fit does.
#     The default fit's estimate, se, tau2 and warning are kept under "default".
#   * rma.mh() and rma.peto() with their defaults (add = 1/2, to = "only0", drop00 = TRUE for the
#     per-study yi/vi and Q; uncorrected counts, double-zero studies kept, for the pooled estimate).
#   * Back-transformed pred/ci/pi come from predict(res, transf = ...): transf.ilogit (logit),
#     exp (log; NOT clipped by metafor), transf.iarcsin (arcsine), transf.ipft.hm with
#     targs = list(ni = trials) (Freeman-Tukey), none (raw; NOT clipped). binfer clips its
#     proportions to [0, 1]; the tests clip these metafor values the same way before comparing.
#   * i2 is metafor's I2 / 100 (a fraction); "weights" is weights(res) (percent).
#   * tau2_ci is confint(res)$random["tau^2", ] (Q-profile); null for EE/MH/Peto/GLMM, where
#     metafor has no confint for tau^2. pi_low/pi_high are null where predict() gives no
#     prediction interval (EE, MH, Peto: tau^2 = 0, binfer returns the CI there).
#   * q_df is k - 1 (for MH/Peto: the number of studies with a defined yi, minus 1).
#   * Where the REML/ML root is tau^2 = 0, metafor's Fisher scoring halves its step at the bound
#     and stops at tau^2 ~ 5e-13 (I^2 ~ 1e-8): compare such values with an absolute tolerance.
#
# Datasets: one arm -- dat.pritz1997 (k = 14, one group with all events; also at level 90),
# dat.nielweise2007 treated arm (k = 18, six groups with 0 events), a hand-written table (k = 5,
# one 0-event and one all-events group); two arm -- dat.bcg (k = 13), dat.nielweise2007 (k = 18,
# zero cells, one double-zero study), dat.yusuf1985 table 6 (k = 21, three double-zero studies).
# Every method x scale (one arm: EE, DL, REML, PM, ML x 5 scales, GLMM on logit) and every
# method x measure (two arm: EE, DL, REML, PM, ML, MH x OR/RR/RD, Peto x OR).

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
ci_ctrl <- list(tol = 1e-12, maxiter = 10000)
glmm_tight <- list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5), tolPwrss = 1e-12)

# ---- a tiny JSON writer with full double precision ---------------------------------------------
arr <- function(x) structure(list(x), class = "json_array")  # force an array, even of length 1
to_json <- function(x, indent = "") {
  inner <- paste0(indent, "  ")
  if (inherits(x, "json_array")) x <- x[[1]] else if (is.atomic(x) && length(x) == 1L)
    return(scalar(x))
  if (is.null(x)) return("null")
  if (is.atomic(x)) return(paste0("[", paste(vapply(x, scalar, ""), collapse = ", "), "]"))
  if (!is.null(names(x))) {
    body <- vapply(names(x), function(n) paste0(inner, '"', n, '": ', to_json(x[[n]], inner)), "")
    return(paste0("{\n", paste(body, collapse = ",\n"), "\n", indent, "}"))
  }
  body <- vapply(x, function(v) paste0(inner, to_json(v, inner)), "")
  paste0("[\n", paste(body, collapse = ",\n"), "\n", indent, "]")
}
scalar <- function(v) {
  if (is.null(v) || is.na(v)) return("null")
  if (is.logical(v)) return(if (v) "true" else "false")
  if (is.character(v)) return(paste0('"', gsub('"', '\\\\"', v), '"'))
  if (is.infinite(v)) stop("infinite value")
  sprintf("%.17g", v)
}

level_of <- function(res) 100 * (1 - res$level)
num <- function(x) if (length(x) == 0L) NA_real_ else as.numeric(x)  # predict() has no pi for EE

common <- function(res, pr, weights) {
  list(
    estimate = num(res$beta), se = num(res$se), ci_low = num(res$ci.lb), ci_high = num(res$ci.ub),
    zval = num(res$zval), pvalue = num(res$pval), tau2 = num(res$tau2),
    q = num(res$QE), q_df = num(res$k.yi %||% res$k) - 1, q_pvalue = num(res$QEp),
    i2 = num(res$I2) / 100, h2 = num(res$H2),
    pred = num(pr$pred), pred_ci_low = num(pr$ci.lb), pred_ci_high = num(pr$ci.ub),
    pi_low = num(pr$pi.lb), pi_high = num(pr$pi.ub),
    weights = arr(num(weights))
  )
}
`%||%` <- function(a, b) if (is.null(a)) b else a

tau2_ci <- function(res) {
  if (res$method %in% c("FE", "EE", "CE")) return(list(tau2_ci_low = NA, tau2_ci_high = NA))
  ci <- confint(res, control = ci_ctrl)$random
  list(tau2_ci_low = num(ci["tau^2", "ci.lb"]), tau2_ci_high = num(ci["tau^2", "ci.ub"]))
}

# ---- one arm -----------------------------------------------------------------------------------
scales <- c(logit = "PLO", log = "PLN", arcsine = "PAS", "freeman-tukey" = "PFT", raw = "PR")
methods_uni <- c("EE", "DL", "REML", "PM", "ML")

one_arm_cases <- function(xi, ni, levels = 95) {
  cases <- list()
  for (sc in names(scales)) {
    meas <- scales[[sc]]
    transf <- switch(sc, logit = transf.ilogit, log = exp, arcsine = transf.iarcsin,
                     "freeman-tukey" = transf.ipft.hm, raw = NULL)
    for (m in methods_uni) for (lev in levels) {
      es <- summary(escalc(measure = meas, xi = xi, ni = ni), level = lev)
      res <- rma(measure = meas, xi = xi, ni = ni, method = m, level = lev, control = ctrl)
      pr <- if (is.null(transf)) predict(res) else if (sc == "freeman-tukey")
        predict(res, transf = transf, targs = list(ni = ni)) else predict(res, transf = transf)
      case <- c(list(scale = sc, method = m, conf_level = lev / 100),
                common(res, pr, weights(res)), tau2_ci(res),
                list(yi = arr(num(es$yi)), vi = arr(num(es$vi)),
                     yi_ci_low = arr(num(es$ci.lb)), yi_ci_high = arr(num(es$ci.ub))))
      cases[[length(cases) + 1L]] <- case
    }
  }
  # GLMM: binomial-normal model by ML (lme4::glmer, nAGQ = 7); logit scale only. The main values
  # come from a TIGHT fit (see the header); "default" holds rma.glmm's default fit for comparison.
  res <- rma.glmm(measure = "PLO", xi = xi, ni = ni, method = "ML", control = list(glmerCtrl = glmm_tight))
  default_warning <- NA_character_
  res0 <- withCallingHandlers(
    rma.glmm(measure = "PLO", xi = xi, ni = ni, method = "ML"),
    warning = function(w) {
      default_warning <<- conditionMessage(w)
      invokeRestart("muffleWarning")
    })
  pr <- predict(res, transf = transf.ilogit)
  es <- summary(escalc(measure = "PLO", xi = xi, ni = ni))
  case <- list(
    scale = "logit", method = "GLMM", conf_level = 0.95,
    estimate = num(res$beta), se = num(res$se), ci_low = num(res$ci.lb), ci_high = num(res$ci.ub),
    zval = num(res$zval), pvalue = num(res$pval), tau2 = num(res$tau2),
    q = num(res$QE.Wld), q_df = num(res$QE.df), q_pvalue = num(res$QEp.Wld),
    q_lrt = num(res$QE.LRT), q_lrt_pvalue = num(res$QEp.LRT),
    i2 = num(res$I2) / 100, h2 = num(res$H2),
    pred = num(pr$pred), pred_ci_low = num(pr$ci.lb), pred_ci_high = num(pr$ci.ub),
    pi_low = num(pr$pi.lb), pi_high = num(pr$pi.ub),
    yi = arr(num(es$yi)), vi = arr(num(es$vi)),
    default = list(estimate = num(res0$beta), se = num(res0$se), tau2 = num(res0$tau2),
                   lme4_warning = default_warning))
  cases[[length(cases) + 1L]] <- case
  cases
}

pritz <- dat.pritz1997
niel <- dat.nielweise2007
hand <- data.frame(group = c("A", "B", "C", "D", "E"), events = c(0, 5, 12, 20, 9),
                   trials = c(15, 30, 12, 40, 25))

one_arm <- list(
  list(dataset = "pritz1997", source = "metadat::dat.pritz1997 (xi, ni)",
       labels = arr(as.character(pritz$authors)), events = arr(pritz$xi), trials = arr(pritz$ni),
       cases = one_arm_cases(pritz$xi, pritz$ni, levels = c(95, 90))),
  list(dataset = "nielweise2007_treated",
       source = "metadat::dat.nielweise2007, treated arm (ai, n1i): 6 groups with 0 events",
       labels = arr(as.character(niel$author)), events = arr(niel$ai), trials = arr(niel$n1i),
       cases = one_arm_cases(niel$ai, niel$n1i)),
  list(dataset = "hand_zero_all", source = "hand-written: a 0-event group (A), an all-events group (C)",
       labels = arr(hand$group), events = arr(hand$events), trials = arr(hand$trials),
       cases = one_arm_cases(hand$events, hand$trials))
)

# ---- two arm -----------------------------------------------------------------------------------
two_arm_cases <- function(ai, n1i, ci, n2i) {
  bi <- n1i - ai
  di <- n2i - ci
  cases <- list()
  for (meas in c("OR", "RR", "RD")) {
    tr <- if (meas == "RD") NULL else exp
    for (m in c(methods_uni, "MH", if (meas == "OR") "Peto")) {
      if (m == "MH") {
        res <- suppressWarnings(rma.mh(measure = meas, ai = ai, bi = bi, ci = ci, di = di))
        yi <- res$yi.f
        vi <- res$vi.f
      } else if (m == "Peto") {
        res <- suppressWarnings(rma.peto(ai = ai, bi = bi, ci = ci, di = di))
        yi <- res$yi.f
        vi <- res$vi.f
      } else {
        res <- rma(measure = meas, ai = ai, bi = bi, ci = ci, di = di, method = m, control = ctrl)
        yi <- res$yi
        vi <- res$vi
      }
      pr <- if (is.null(tr)) predict(res) else predict(res, transf = tr)
      case <- c(list(measure = meas, method = m, conf_level = 0.95),
                common(res, pr, weights(res)),
                if (m %in% c("MH", "Peto")) list(tau2_ci_low = NA, tau2_ci_high = NA) else tau2_ci(res),
                list(yi = arr(num(yi)), vi = arr(num(vi))))
      cases[[length(cases) + 1L]] <- case
    }
  }
  cases
}

bcg <- dat.bcg
yus <- dat.yusuf1985
yus <- yus[yus$table == "6" & !is.na(yus$ai), ]
two_arm <- list(
  list(dataset = "bcg", source = "metadat::dat.bcg (tpos, tpos + tneg, cpos, cpos + cneg)",
       labels = arr(paste(bcg$author, bcg$year)),
       events_treat = arr(bcg$tpos), trials_treat = arr(bcg$tpos + bcg$tneg),
       events_ctrl = arr(bcg$cpos), trials_ctrl = arr(bcg$cpos + bcg$cneg),
       cases = two_arm_cases(bcg$tpos, bcg$tpos + bcg$tneg, bcg$cpos, bcg$cpos + bcg$cneg)),
  list(dataset = "nielweise2007", source = "metadat::dat.nielweise2007: zero cells, 1 double-zero study",
       labels = arr(as.character(niel$author)),
       events_treat = arr(niel$ai), trials_treat = arr(niel$n1i),
       events_ctrl = arr(niel$ci), trials_ctrl = arr(niel$n2i),
       cases = two_arm_cases(niel$ai, niel$n1i, niel$ci, niel$n2i)),
  list(dataset = "yusuf1985_table6",
       source = "metadat::dat.yusuf1985, table 6 without the row with missing counts: 3 double-zero studies",
       labels = arr(paste(yus$id, yus$trial)),
       events_treat = arr(yus$ai), trials_treat = arr(yus$n1i),
       events_ctrl = arr(yus$ci), trials_ctrl = arr(yus$n2i),
       cases = two_arm_cases(yus$ai, yus$n1i, yus$ci, yus$n2i))
)

out <- list(
  software = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                  metadat = as.character(packageVersion("metadat")),
                  lme4 = as.character(packageVersion("lme4"))),
  one_arm = one_arm,
  two_arm = two_arm
)
writeLines(to_json(out), file.path(outdir, "meta_refs.json"))
cat("wrote", file.path(outdir, "meta_refs.json"), "\n")

#!/usr/bin/env Rscript
# Cross-check binfer's bundled datasets (binfer/datasets/data/*.csv) against independent sources.
#
# Run from the project root:   Rscript tests/reference/check_datasets.R     (about 1 s)
# Writes tests/reference/datasets_check.txt (deterministic: no timestamps) and exits with status 1
# if any check fails. tests/test_datasets.py reads that file (it needs no R): every dataset must
# have an entry, no check may have failed, and the md5 recorded here must be the md5 of the CSV
# the package ships, so the file goes stale (and the test fails) when a CSV changes unchecked.
#
# Sources, one per dataset (never binfer's own output):
#   rat_tumors     BDA3 Sec. 5.1 summaries (mean 0.136, sd 0.103 of the 70 historical y/n) and the
#                  book's data file rats.asc as reproduced in public course material (same 71
#                  pairs, listed in a different order), typed in below
#   efron_morris   pscl::EfronMorris (Jackman's pscl package) and Efron & Morris (1975)'s
#                  grand mean .265 of the 18 first-45-at-bat averages
#   surgical       the OpenBUGS "Surgical" example data (r, n), typed in below
#   bcg            metadat::dat.bcg (and metadat::dat.colditz1994: the same counts)
#   beta_blockers  metadat::dat.yusuf1985, table "10" (total mortality, longer-term trials) less
#                  Ciba-Geigy (no data) and Yusuf (1/11 vs 1/11; not among Carlin's 22), and the
#                  OpenBUGS "Blocker" example data (Carlin 1992), typed in below
#   aspirin        HSAUR3::aspirin (Debian r-cran-hsaur3), which cites the seven trials of Fleiss
#   dose_response  VGAM::flourbeetle (Bliss 1935, Table IV)
#   multicentre    Agresti's Categorical Data Analysis: Cochran-Mantel-Haenszel statistic 6.38
#                  (no continuity correction) and Mantel-Haenszel odds ratio 2.13 for this table,
#                  and the 2x2x8 array as printed there (drug/control x success/failure x centre)
#
# Software used: R 4.2.2, metadat 1.2-0, pscl 1.5.5, VGAM 1.1-7, HSAUR3 1.0-13 (Debian bookworm
# packages; HSAUR3 from r-cran-hsaur3). The versions in force are written into the output.

suppressPackageStartupMessages({
  library(metadat)
  library(pscl)
  library(VGAM)
  library(HSAUR3)
})

data_dir <- file.path("binfer", "datasets", "data")
out_file <- file.path("tests", "reference", "datasets_check.txt")
if (!dir.exists(data_dir)) stop("run from the project root: no ", data_dir)

lines <- character()
failed <- 0L
emit <- function(...) lines <<- c(lines, paste0(...))

# One check: record OK/FAIL with what was compared.
check <- function(ok, what) {
  ok <- isTRUE(all(ok))
  if (!ok) failed <<- failed + 1L
  emit("  ", if (ok) "OK   " else "FAIL ", what)
}

read_ds <- function(name) {
  path <- file.path(data_dir, paste0(name, ".csv"))
  emit("")
  emit("dataset ", name, "  md5 ", unname(tools::md5sum(path)))
  read.csv(path, stringsAsFactors = FALSE, check.names = FALSE)
}

# Every dataset: events <= trials, counts whole and non-negative.
counts_ok <- function(d, events, trials) {
  for (j in seq_along(events)) {
    e <- d[[events[j]]]
    n <- d[[trials[j]]]
    check(e == round(e) & n == round(n) & e >= 0 & e <= n & n >= 1,
          sprintf("%s <= %s, whole, >= 0", events[j], trials[j]))
  }
}
one_arm <- c("events", "trials")
two_arm <- list(c("events_treat", "events_ctrl"), c("trials_treat", "trials_ctrl"))

emit("binfer bundled datasets: cross-checks against independent sources")
emit("made by tests/reference/check_datasets.R; ",
     R.version.string, "; metadat ", packageDescription("metadat")$Version,
     ", pscl ", packageDescription("pscl")$Version,
     ", VGAM ", packageDescription("VGAM")$Version,
     ", HSAUR3 ", packageDescription("HSAUR3")$Version)

# ---- rat_tumors ---------------------------------------------------------------------------------
d <- read_ds("rat_tumors")
check(identical(names(d), c("group", "events", "trials")), "columns group, events, trials")
counts_ok(d, "events", "trials")
check(nrow(d) == 71, "71 experiments (70 historical + current)")
check(d$group[71] == "current" && d$events[71] == 4 && d$trials[71] == 14,
      "row 71 is the current experiment, 4/14")
check(identical(d$group[1:70], as.character(1:70)), "historical groups labelled 1..70")
r <- d$events[1:70] / d$trials[1:70]
check(round(mean(r), 3) == 0.136 && round(sd(r), 3) == 0.103,
      sprintf("BDA3 5.1: mean, sd of the 70 historical y/n = %.4f, %.4f (published 0.136, 0.103)",
              mean(r), sd(r)))
check(sum(d$events[1:70]) == 263 && sum(d$trials[1:70]) == 1725,
      "historical totals 263 tumours / 1725 rats")
# rats.asc (book website) order: the same pairs as BDA3 Table 5.1, 3/27 listed 23rd.
asc_y <- c(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 3, 2, 2,
           2, 2, 2, 2, 2, 2, 2, 1, 5, 2, 5, 2, 7, 7, 3, 3, 2, 9, 10, 4, 4, 4, 4, 4, 4,
           4, 10, 4, 4, 4, 5, 11, 12, 5, 5, 6, 5, 6, 6, 6, 6, 16, 15, 15, 9, 4)
asc_n <- c(20, 20, 20, 20, 20, 20, 20, 19, 19, 19, 19, 18, 18, 17, 20, 20, 20, 20, 19, 19, 18, 18,
           27, 25, 24, 23, 20, 20, 20, 20, 20, 20, 10, 49, 19, 46, 17, 49, 47, 20, 20, 13, 48, 50,
           20, 20, 20, 20, 20, 20, 20, 48, 19, 19, 19, 22, 46, 49, 20, 20, 23, 19, 22, 20, 20, 20,
           52, 46, 47, 24, 14)
key <- function(y, n) sort(paste(y, n, sep = "/"))
check(identical(key(d$events, d$trials), key(asc_y, asc_n)),
      "same 71 (y, n) pairs as rats.asc (order differs: rows 23-26 and 32-36)")

# ---- efron_morris -------------------------------------------------------------------------------
d <- read_ds("efron_morris")
check(identical(names(d), c("group", "events", "trials", "season_average", "remaining_at_bats")),
      "columns group, events, trials, season_average, remaining_at_bats")
counts_ok(d, "events", "trials")
em <- pscl::EfronMorris
check(nrow(d) == 18 && all(d$trials == 45), "18 players, 45 at-bats each")
check(identical(d$group, as.character(em$name)), "player names = pscl::EfronMorris$name")
check(all(d$events == em$r), "hits = pscl::EfronMorris$r")
check(all(abs(d$events / 45 - em$y) < 5e-4), "hits / 45 = pscl::EfronMorris$y (3 decimals)")
check(all(d$season_average == em$p), "season_average = pscl::EfronMorris$p")
check(all(d$remaining_at_bats == em$n), "remaining_at_bats = pscl::EfronMorris$n")
check(round(mean(d$events / 45), 3) == 0.265,
      sprintf("grand mean of the 18 averages %.4f (Efron & Morris 1975: .265)", mean(d$events / 45)))

# ---- surgical -----------------------------------------------------------------------------------
d <- read_ds("surgical")
check(identical(names(d), c("group", "events", "trials")), "columns group, events, trials")
counts_ok(d, "events", "trials")
bugs_r <- c(0, 18, 8, 46, 8, 13, 9, 31, 14, 8, 29, 24)
bugs_n <- c(47, 148, 119, 810, 211, 196, 148, 215, 207, 97, 256, 360)
check(identical(d$group, LETTERS[1:12]), "hospitals A..L")
check(all(d$events == bugs_r) && all(d$trials == bugs_n), "r, n = OpenBUGS Surgical example data")
check(sum(d$events) == 208 && sum(d$trials) == 2814, "totals 208 deaths / 2814 operations")

# ---- bcg ----------------------------------------------------------------------------------------
d <- read_ds("bcg")
check(identical(names(d), c("study", "events_treat", "trials_treat", "events_ctrl", "trials_ctrl",
                            "year", "latitude", "allocation")),
      "columns study, events/trials treat/ctrl, year, latitude, allocation")
counts_ok(d, two_arm[[1]], two_arm[[2]])
b <- metadat::dat.bcg
check(nrow(d) == 13, "13 trials")
check(identical(d$study, paste(b$author, b$year)), "study = paste(author, year) of dat.bcg")
check(all(d$events_treat == b$tpos & d$trials_treat == b$tpos + b$tneg),
      "treated: events = tpos, trials = tpos + tneg (dat.bcg)")
check(all(d$events_ctrl == b$cpos & d$trials_ctrl == b$cpos + b$cneg),
      "control: events = cpos, trials = cpos + cneg (dat.bcg)")
check(all(d$year == b$year & d$latitude == b$ablat & d$allocation == b$alloc),
      "year, latitude = ablat, allocation = alloc (dat.bcg)")
c94 <- metadat::dat.colditz1994
check(all(d$events_treat == c94$tpos & d$events_ctrl == c94$cpos &
          d$trials_treat - d$events_treat == c94$tneg & d$trials_ctrl - d$events_ctrl == c94$cneg),
      "the same counts in dat.colditz1994")

# ---- beta_blockers ------------------------------------------------------------------------------
d <- read_ds("beta_blockers")
check(identical(names(d), c("study", "events_treat", "trials_treat", "events_ctrl", "trials_ctrl")),
      "columns study, events/trials treat/ctrl")
counts_ok(d, two_arm[[1]], two_arm[[2]])
y85 <- metadat::dat.yusuf1985
y85 <- y85[y85$table == "10" & !is.na(y85$ai) & y85$id != "2.2", ]
check(nrow(d) == 22 && nrow(y85) == 22, "22 trials")
check(identical(d$study, y85$trial), "study = trial of dat.yusuf1985 table 10, same order")
check(all(d$events_treat == y85$ai & d$trials_treat == y85$n1i &
          d$events_ctrl == y85$ci & d$trials_ctrl == y85$n2i),
      "deaths/total treated = ai/n1i, control = ci/n2i (dat.yusuf1985 table 10)")
# The OpenBUGS "Blocker" example data (Carlin 1992's 22 trials), in its order.
bugs <- list(rt = c(3, 7, 5, 102, 28, 4, 98, 60, 25, 138, 64, 45, 9, 57, 25, 33, 28, 8, 6, 32, 27, 22),
             nt = c(38, 114, 69, 1533, 355, 59, 945, 632, 278, 1916, 873, 263, 291, 858, 154, 207,
                    251, 151, 174, 209, 391, 680),
             rc = c(3, 14, 11, 127, 27, 6, 152, 48, 37, 188, 52, 47, 16, 45, 31, 38, 12, 6, 3, 40, 43,
                    39),
             nc = c(39, 116, 93, 1520, 365, 52, 939, 471, 282, 1921, 583, 266, 293, 883, 147, 213,
                    122, 154, 134, 218, 364, 674))
check(all(d$events_treat == bugs$rt & d$trials_treat == bugs$nt &
          d$events_ctrl == bugs$rc & d$trials_ctrl == bugs$nc),
      "rt, nt, rc, nc = OpenBUGS Blocker example data (Carlin 1992), same order")

# ---- aspirin ------------------------------------------------------------------------------------
d <- read_ds("aspirin")
check(identical(names(d), c("study", "events_treat", "trials_treat", "events_ctrl", "trials_ctrl",
                            "year")),
      "columns study, events/trials treat/ctrl, year")
counts_ok(d, two_arm[[1]], two_arm[[2]])
a <- HSAUR3::aspirin
check(nrow(d) == 7, "7 trials")
check(all(d$events_treat == a$da & d$trials_treat == a$ta &
          d$events_ctrl == a$dp & d$trials_ctrl == a$tp),
      "aspirin deaths/total = da/ta, placebo = dp/tp (HSAUR3::aspirin, same order)")
check(all(d$year == as.numeric(sub(".*([0-9]{4})[^0-9]*$", "\\1", rownames(a)))),
      "year = the year in HSAUR3's citation of each trial")

# ---- dose_response ------------------------------------------------------------------------------
d <- read_ds("dose_response")
check(identical(names(d), c("group", "events", "trials", "dose")),
      "columns group, events, trials, dose")
counts_ok(d, "events", "trials")
fb <- VGAM::flourbeetle
check(nrow(d) == 8, "8 doses")
check(all(d$events == fb$killed & d$trials == fb$exposed & d$dose == fb$CS2mgL),
      "killed, exposed, CS2 mg/l = VGAM::flourbeetle")
check(identical(d$group, sprintf("%.2f mg/l", fb$CS2mgL)), "group labels '<dose> mg/l'")

# ---- multicentre --------------------------------------------------------------------------------
d <- read_ds("multicentre")
check(identical(names(d), c("study", "events_treat", "trials_treat", "events_ctrl", "trials_ctrl")),
      "columns study, events/trials treat/ctrl")
counts_ok(d, two_arm[[1]], two_arm[[2]])
# Agresti's table, as printed: for each centre drug S, control S, drug F, control F.
agresti <- array(c(11, 10, 25, 27, 16, 22, 4, 10, 14, 7, 5, 12, 2, 1, 14, 16,
                   6, 0, 11, 12, 1, 0, 10, 10, 1, 1, 4, 8, 4, 6, 2, 1), dim = c(2, 2, 8))
check(identical(d$study, paste("Centre", 1:8)), "centres 1..8")
check(all(d$events_treat == agresti[1, 1, ] & d$trials_treat == agresti[1, 1, ] + agresti[1, 2, ] &
          d$events_ctrl == agresti[2, 1, ] & d$trials_ctrl == agresti[2, 1, ] + agresti[2, 2, ]),
      "successes/total per arm = Agresti's 2x2x8 table")
tab <- array(rbind(d$events_treat, d$events_ctrl,
                   d$trials_treat - d$events_treat, d$trials_ctrl - d$events_ctrl), dim = c(2, 2, 8))
mh <- mantelhaen.test(tab, correct = FALSE)
check(round(unname(mh$statistic), 2) == 6.38 && round(unname(mh$estimate), 2) == 2.13,
      sprintf("CMH = %.4f, MH odds ratio = %.4f (Agresti: 6.38, 2.13)",
              unname(mh$statistic), unname(mh$estimate)))

# ---- orange_juice -------------------------------------------------------------------------------
d <- read_ds("orange_juice")
check(identical(names(d), c("group", "events", "trials")), "columns group, events, trials")
counts_ok(d, "events", "trials")
check(nrow(d) == 30 && all(d$trials == 50) && identical(as.character(d$group), as.character(1:30)),
      "30 samples of 50 cans, labelled 1..30")
# Montgomery's trial p chart: total 347 nonconforming of 1500, centre line 0.2313, UCL 0.4102,
# LCL 0.0524, with samples 15 and 23 above the UCL.
pbar <- sum(d$events) / sum(d$trials)
ucl <- pbar + 3 * sqrt(pbar * (1 - pbar) / 50)
lcl <- pbar - 3 * sqrt(pbar * (1 - pbar) / 50)
check(sum(d$events) == 347 && round(pbar, 4) == 0.2313, "total 347 of 1500, p-bar 0.2313")
check(round(ucl, 4) == 0.4102 && round(lcl, 4) == 0.0524, sprintf("UCL %.4f, LCL %.4f", ucl, lcl))
check(identical(which(d$events / 50 > ucl), c(15L, 23L)), "samples 15 and 23 above the UCL")

emit("")
emit(if (failed == 0L) "all checks passed" else sprintf("%d check(s) FAILED", failed))
writeLines(lines, out_file)
cat(lines, sep = "\n")
if (failed > 0L) quit(status = 1L)

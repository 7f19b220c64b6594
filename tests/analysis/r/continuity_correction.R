# Reference values for the continuity-corrected two-proportion test and its sample size.
# Run from the repository root:  Rscript tests/analysis/r/continuity_correction.R
# Writes tests/analysis/r/continuity_correction.json (R 4, base R + jsonlite).
library(jsonlite)

# 1. The test: R's prop.test with Yates's correction, one-sided (fewer events on treatment).
cases <- list(
  c(123, 298, 119, 300), c(50, 100, 30, 100), c(10, 40, 18, 35), c(300, 1000, 260, 1000),
  c(5, 20, 4, 20), c(7, 30, 6, 31), c(3, 10, 9, 12), c(45, 90, 44, 90), c(0, 15, 3, 15),
  c(20, 25, 10, 25)
)
tests <- lapply(cases, function(x) {
  fit <- suppressWarnings(prop.test(c(x[1], x[3]), c(x[2], x[4]), correct = TRUE,
                                    alternative = "greater"))
  delta <- x[1] / x[2] - x[3] / x[4]
  list(events_control = x[1], n_control = x[2], events_treatment = x[3], n_treatment = x[4],
       z = sign(delta) * sqrt(unname(fit$statistic)), p_value = fit$p.value,
       call = sprintf("prop.test(c(%d, %d), c(%d, %d), correct = TRUE, alternative = 'greater')",
                      x[1], x[3], x[2], x[4]))
})

# 2. The fixed-design total N: the root (uniroot, not the closed form) of the normal
#    approximation to the corrected test's power, 1 - beta =
#    pnorm(((|d| - c/N) sqrt(N) - z_{1-a} s0) / s1), c = (1/w_c + 1/w_t) / 2,
#    s0^2 = pbar qbar (1/w_c + 1/w_t), s1^2 = p_c q_c / w_c + p_t q_t / w_t;
#    and, for 1:1, the exact power of prop.test(correct = TRUE) at the N rounded up to
#    whole pairs, by enumerating both binomials.
corrected_power <- function(N, pc, pt, alpha, wc) {
  wt <- 1 - wc
  pbar <- wc * pc + wt * pt
  s0 <- sqrt(pbar * (1 - pbar) * (1 / wc + 1 / wt))
  s1 <- sqrt(pc * (1 - pc) / wc + pt * (1 - pt) / wt)
  cc <- (1 / wc + 1 / wt) / 2
  pnorm(((abs(pc - pt) - cc / N) * sqrt(N) - qnorm(1 - alpha) * s0) / s1)
}
exact_power <- function(n, pc, pt, alpha, correct) {
  x <- 0:n
  xc <- rep(x, times = n + 1); xt <- rep(x, each = n + 1)
  d <- xc / n - xt / n
  pbar <- (xc + xt) / (2 * n)
  se <- sqrt(pbar * (1 - pbar) * 2 / n)
  num <- if (correct) sign(d) * pmax(abs(d) - 1 / n, 0) else d
  z <- ifelse(se > 0, num / se, 0)
  prob <- dbinom(xc, n, pc) * dbinom(xt, n, pt)
  sum(prob[z > qnorm(1 - alpha)])
}
designs <- list(
  list(pc = 0.45, pt = 0.35, alpha = 0.025, power = 0.8, wc = 0.5),
  list(pc = 0.40, pt = 0.25, alpha = 0.025, power = 0.9, wc = 0.5),
  list(pc = 0.50, pt = 0.30, alpha = 0.05, power = 0.8, wc = 0.5),
  list(pc = 0.45, pt = 0.35, alpha = 0.025, power = 0.8, wc = 1 / 3),
  list(pc = 0.30, pt = 0.15, alpha = 0.025, power = 0.8, wc = 2 / 3)
)
sizes <- lapply(designs, function(d) {
  root <- uniroot(function(N) corrected_power(N, d$pc, d$pt, d$alpha, d$wc) - d$power,
                  c(10, 1e6), tol = 1e-10)$root
  out <- c(d, list(n_total = root))
  if (d$wc == 0.5) {
    n <- ceiling(root / 2)
    out$n_per_arm <- n
    out$exact_power_corrected <- exact_power(n, d$pc, d$pt, d$alpha, TRUE)
    out$exact_power_uncorrected <- exact_power(n, d$pc, d$pt, d$alpha, FALSE)
  }
  out
})

write_json(list(r_version = R.version.string, tests = tests, sample_sizes = sizes),
           "tests/analysis/r/continuity_correction.json", digits = NA, auto_unbox = TRUE,
           pretty = TRUE)

# Reference fits of the proportional-odds (cumulative logit) model for
# tests/analysis/test_proportional_odds.py. Regenerate with
#     Rscript tests/analysis/r/proportional_odds.R tests/analysis/r/proportional_odds.json
# (R 4.2.2, MASS 7.3-58.2, ordinal 2022.11-16, jsonlite 1.8.4).
#
# Each case simulates one trial from a proportional-odds model (control-arm category
# probabilities `p`, a latent logistic shift `beta` on treatment and `gamma` on the
# covariates), optionally edits the outcomes to create zero cells, and fits
#     MASS::polr(factor(y) ~ treated [+ x1 + x2], method = "logistic", Hess = TRUE,
#                control = list(reltol = 1e-15, maxit = 10000, ndeps = rep(1e-5, k)))
# restarted once from its own estimate. polr with its defaults (BFGS stopping at a
# relative change of 1e-8 in the deviance) ends up to 2e-4 from the maximum on these data,
# with SEs up to 6e-6 off; reltol = 1e-15 and the restart bring the estimate within 6e-8
# of clm's, and ndeps = 1e-5 (for optim's finite-difference Hessian of polr's analytic
# gradient; the default 1e-3 leaves ~4e-8) the SE within 1e-8 of clm's analytic one. And
#     ordinal::clm(factor(y) ~ treated [+ x1 + x2], link = "logit",
#                  control = clm.control(gradTol = 1e-12, relTol = 1e-12, maxIter = 1000))
# (Newton–Raphson with the analytic Hessian), where data = data.frame(y = factor(y),
# treated, x1, x2) holds the case's stored arrays. factor(y) keeps the observed categories
# only: polr and clm both fit the categories present in the data, as a category that no
# patient falls in has no cut-point of its own.
suppressMessages({
  library(MASS)
  library(ordinal)
  library(jsonlite)
})

osfd <- -1:21
osfd_p <- c(0.35, 0.10, rep(0.02, 20), 0.15)

simulate <- function(seed, n, levels, p, beta, gamma = NULL, share_treated = 0.5) {
  set.seed(seed)
  treated <- as.integer(runif(n) < share_treated)
  x <- NULL
  eta <- beta * treated
  if (length(gamma) >= 1) {
    x <- cbind(x1 = rnorm(n))
    if (length(gamma) == 2) x <- cbind(x, x2 = as.numeric(runif(n) < 0.3))
    eta <- eta + drop(x %*% gamma)
  }
  cuts <- qlogis(cumsum(p)[-length(p)])
  latent <- eta + rlogis(n)
  y <- levels[findInterval(latent, cuts) + 1L]
  list(y = y, treated = treated, x = x)
}

cases <- list(
  list(name = "n30 5 levels, ties", seed = 1, n = 30, levels = 1:5, p = rep(0.2, 5), beta = 0.5),
  list(name = "n600 OSFD 23 levels", seed = 2, n = 600, levels = osfd, p = osfd_p, beta = 0.3),
  list(name = "n200 3 levels", seed = 3, n = 200, levels = 0:2, p = c(0.3, 0.4, 0.3), beta = -0.4),
  list(name = "category empty in the control arm", seed = 4, n = 80, levels = 1:7,
       p = rep(1 / 7, 7), beta = 0.2, edit = "control 4 -> 5"),
  list(name = "categories empty overall, OSFD n150", seed = 5, n = 150, levels = osfd,
       p = osfd_p, beta = 0.5, edit = "3, 7, 15 -> 4, 8, 16; 21 -> 20"),
  list(name = "OSFD n300, one covariate", seed = 6, n = 300, levels = osfd, p = osfd_p,
       beta = 0.4, gamma = 0.6),
  list(name = "OSFD n600, two covariates", seed = 7, n = 600, levels = osfd, p = osfd_p,
       beta = 0.25, gamma = c(-0.5, -0.8)),
  list(name = "strong effect, 10 levels", seed = 8, n = 100, levels = 1:10, p = rep(0.1, 10),
       beta = 2.0),
  list(name = "many ties, 4 levels n1000", seed = 9, n = 1000, levels = 1:4,
       p = c(0.05, 0.85, 0.05, 0.05), beta = 0.3),
  list(name = "treated arm in one interior category", seed = 10, n = 60, levels = 1:5,
       p = rep(0.2, 5), beta = 0, edit = "treated -> 3"),
  list(name = "n20 6 levels, two covariates", seed = 11, n = 20, levels = 1:6,
       p = rep(1 / 6, 6), beta = 0.5, gamma = c(0.5, 0.5)),
  list(name = "OSFD n400, 2:1 allocation, many deaths, two covariates", seed = 12, n = 400,
       levels = osfd, p = c(0.5, 0.1, rep(0.015, 20), 0.1), beta = 0.35, gamma = c(-0.7, -0.4),
       share_treated = 2 / 3),
  list(name = "3 levels, zero cell in the treated arm, one covariate", seed = 13, n = 50,
       levels = 0:2, p = c(0.3, 0.4, 0.3), beta = 0.3, gamma = 1.0, edit = "treated 0 -> 1")
)

edit <- function(d, what) {
  if (is.null(what)) return(d)
  if (what == "control 4 -> 5") d$y[d$treated == 0 & d$y == 4] <- 5L
  if (what == "3, 7, 15 -> 4, 8, 16; 21 -> 20") {
    d$y[d$y %in% c(3, 7, 15)] <- d$y[d$y %in% c(3, 7, 15)] + 1L
    d$y[d$y == 21] <- 20L
  }
  if (what == "treated -> 3") d$y[d$treated == 1] <- 3L
  if (what == "treated 0 -> 1") d$y[d$treated == 1 & d$y == 0] <- 1L
  d
}

out <- list()
for (case in cases) {
  d <- do.call(simulate, case[intersect(names(case), names(formals(simulate)))])
  d <- edit(d, case$edit)
  frame <- data.frame(y = factor(d$y), treated = d$treated)
  rhs <- "treated"
  if (!is.null(d$x)) {
    frame <- cbind(frame, d$x)
    rhs <- paste(c("treated", colnames(d$x)), collapse = " + ")
  }
  formula <- as.formula(paste("y ~", rhs))
  k <- 1 + (if (is.null(d$x)) 0 else ncol(d$x)) + nlevels(frame$y) - 1
  control <- list(reltol = 1e-15, maxit = 10000, ndeps = rep(1e-5, k))
  first <- polr(formula, frame, method = "logistic", control = control)
  polr_fit <- polr(formula, frame, method = "logistic", Hess = TRUE, control = control,
                   start = c(coef(first), first$zeta))
  clm_fit <- clm(formula, data = frame, link = "logit",
                 control = clm.control(gradTol = 1e-12, relTol = 1e-12, maxIter = 1000))
  out[[length(out) + 1]] <- list(
    name = case$name,
    y = d$y,
    treated = d$treated,
    covariates = if (is.null(d$x)) NULL else unname(d$x),
    polr_log_or = unname(coef(polr_fit)["treated"]),
    polr_se = unname(sqrt(diag(vcov(polr_fit)))["treated"]),
    polr_call = sprintf(paste0(
      'MASS::polr(%s, data, method = "logistic", Hess = TRUE, control = list(reltol = 1e-15, ',
      'maxit = 10000, ndeps = rep(1e-5, %d)), start = <that call without Hess: c(coef, zeta)>)'
    ), deparse(formula), k),
    clm_log_or = unname(coef(clm_fit)["treated"]),
    clm_se = unname(sqrt(diag(vcov(clm_fit)))["treated"]),
    clm_call = paste0(
      "ordinal::clm(", deparse(formula), ', data, link = "logit", control = ',
      "clm.control(gradTol = 1e-12, relTol = 1e-12, maxIter = 1000))"
    ),
    clm_max_gradient = max(abs(clm_fit$gradient))
  )
}
args <- commandArgs(TRUE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), args[1])

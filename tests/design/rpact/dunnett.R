# Group-sequential Dunnett bounds by R's mvtnorm, the reference for
# tests/design/test_multiplicity.py. Run from the repository root:
#     Rscript tests/design/rpact/dunnett.R    # needs mvtnorm (apt: r-cran-mvtnorm), jsonlite
# Writes tests/design/rpact/dunnett_bounds.json.
#
# H_i is rejected at look k if Z_ik >= c_k. The M*K statistics are jointly normal with
# covariance kronecker(look correlation sqrt(t_j/t_k), arm correlation), the arm
# correlation rho_ij = sqrt(w_i w_j / ((w_0 + w_i)(w_0 + w_j))) of many-to-one
# comparisons with allocation shares w (control w_0 first) (Dunnett 1955; Magirr, Jaki &
# Whitehead 2012). Spending designs: c_k solves P(no Z_ij >= c_j, j <= k) = 1 - f(t_k)
# look by look; Wang-Tsiatis designs: c_k = C t_k^(delta - 0.5), C solving a total of
# alpha. Probabilities by mvtnorm::pmvnorm (Genz-Bretz, its Fortran MVNDST, abseps 1e-8
# where it reaches it), roots by uniroot to 1e-10. Shares no code with cstrial, which
# uses scipy's QMC implementation of the same integral.
suppressMessages(library(mvtnorm))
library(jsonlite)

spend <- function(family, t, alpha, par) {
  switch(family,
    "lan-demets-obrien-fleming" = 2 - 2 * pnorm(qnorm(1 - alpha / 2) / sqrt(t)),
    "lan-demets-pocock" = alpha * log(1 + (exp(1) - 1) * t),
    "kim-demets" = alpha * t^par,
    "hwang-shih-decani" = if (par == 0) alpha * t else alpha * (1 - exp(-par * t)) / (1 - exp(-par)),
    "none" = ifelse(t >= 1, alpha, 0)
  )
}

armcor <- function(w) {
  lam <- sqrt(w[-1] / (w[1] + w[-1]))
  r <- lam %o% lam
  diag(r) <- 1
  r
}

errors <- c()
noCross <- function(c, t, r) {
  keep <- is.finite(c)
  if (!any(keep)) return(1)
  tt <- t[keep]
  lookcor <- sqrt(outer(tt, tt, pmin) / outer(tt, tt, pmax))
  sigma <- kronecker(lookcor, r)
  set.seed(20120914)
  p <- pmvnorm(upper = rep(c[keep], each = nrow(r)), sigma = sigma,
    algorithm = GenzBretz(maxpts = 5e6, abseps = 1e-8, releps = 0))
  errors <<- c(errors, attr(p, "error"))
  as.numeric(p)
}

bounds <- function(t, alpha, w, family, par) {
  r <- armcor(w)
  K <- length(t)
  if (family == "wang-tsiatis") {
    shape <- t^(par - 0.5)
    f <- function(C) noCross(C * shape, t, r) - (1 - alpha)
    C <- uniroot(f, c(1, 8), tol = 1e-10)$root
    return(C * shape)
  }
  cum <- spend(family, t, alpha, par)
  cum[K] <- alpha
  b <- rep(Inf, K)
  for (k in 1:K) {
    if (cum[k] <= 0) next
    f <- function(x) noCross(c(b[seq_len(k - 1)], x), t[1:k], r) - (1 - cum[k])
    b[k] <- uniroot(f, c(0, 8), tol = 1e-10)$root
  }
  b
}

designs <- list(
  list(id = "K1-M2-equal-a025", looks = 1, alpha = 0.025, allocation = c(1, 1, 1), efficacy = "none"),
  list(id = "K1-M3-control-double-a025", looks = 1, alpha = 0.025, allocation = c(2, 1, 1, 1), efficacy = "none"),
  list(id = "K1-M4-equal-a05", looks = 1, alpha = 0.05, allocation = c(1, 1, 1, 1, 1), efficacy = "none"),
  list(id = "K2-M1-OF-equals-univariate", looks = c(0.5, 1), alpha = 0.025, allocation = c(1, 1), efficacy = "lan-demets-obrien-fleming"),
  list(id = "K2-M2-OF-equal", looks = c(0.5, 1), alpha = 0.025, allocation = c(1, 1, 1), efficacy = "lan-demets-obrien-fleming"),
  list(id = "K2-M3-Pocock-unequal-looks", looks = c(0.4, 1), alpha = 0.025, allocation = c(1, 1, 1, 1), efficacy = "lan-demets-pocock"),
  list(id = "K2-M2-KD2-sqrt2-control", looks = c(0.6, 1), alpha = 0.025, allocation = c(sqrt(2), 1, 1), efficacy = "kim-demets", parameter = 2),
  list(id = "K2-M2-WT0-MAMS-OBF", looks = c(0.5, 1), alpha = 0.025, allocation = c(1, 1, 1), efficacy = "wang-tsiatis", parameter = 0),
  list(id = "K3-M2-OF-unequal-allocation", looks = c(1/3, 2/3, 1), alpha = 0.025, allocation = c(1.5, 1, 1), efficacy = "lan-demets-obrien-fleming"),
  list(id = "K3-M2-WT05-MAMS-Pocock", looks = c(1/3, 2/3, 1), alpha = 0.025, allocation = c(1, 1, 1), efficacy = "wang-tsiatis", parameter = 0.5),
  list(id = "K3-M3-HSD-4", looks = c(1/3, 2/3, 1), alpha = 0.025, allocation = c(1, 1, 1, 1), efficacy = "hwang-shih-decani", parameter = -4)
)

out <- lapply(designs, function(d) {
  par <- if (is.null(d$parameter)) NA else d$parameter
  b <- bounds(d$looks, d$alpha, d$allocation, d$efficacy, par)
  list(id = d$id, looks = d$looks, alpha = d$alpha, allocation = d$allocation,
    efficacy = d$efficacy, efficacy_parameter = if (is.na(par)) NULL else par,
    efficacy_z = ifelse(is.finite(b), b, NA))
})
writeLines(toJSON(list(
  source = sprintf("R %s, mvtnorm %s: pmvnorm (GenzBretz) and uniroot; max reported pmvnorm error %.2g",
    getRversion(), packageVersion("mvtnorm"), max(errors)),
  designs = out), auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
  "tests/design/rpact/dunnett_bounds.json")

# rpact's closed combination tests on fixed multi-arm data sets, the reference for
# tests/design/test_multiplicity.py. Run from the repository root:
#     Rscript tests/design/rpact/multiarm.R    # needs rpact (apt: r-cran-rpact) and jsonlite
# Writes tests/design/rpact/multiarm_closed_tests.json: for every data set and
# intersection test, the exact R calls, the stage-wise data rpact derived (sample sizes,
# test statistics, separate p-values) and its closed-test results
# (getClosedCombinationTestResults).
suppressMessages(library(rpact))
library(jsonlite)

datasets <- list(
  list(
    id = "rates-2arms-K3-OF-arm2-dropped-at-stage2",
    design = "getDesignInverseNormal(kMax = 3, alpha = 0.025, typeOfDesign = 'asOF')",
    data = paste(
      "getDataset(n1 = c(40, 40, 40), n2 = c(40, NA, NA), n3 = c(40, 40, 40),",
      "events1 = c(12, 14, 15), events2 = c(10, NA, NA), events3 = c(8, 7, 9))"
    ),
    tests = c("Dunnett", "Bonferroni", "Simes", "Sidak")
  ),
  list(
    id = "rates-3arms-K2-Pocock-unequal-sizes",
    design = "getDesignInverseNormal(kMax = 2, alpha = 0.025, typeOfDesign = 'asP', informationRates = c(0.4, 1))",
    data = paste(
      "getDataset(n1 = c(30, 48), n2 = c(32, 45), n3 = c(29, 50), n4 = c(60, 90),",
      "events1 = c(14, 22), events2 = c(10, 16), events3 = c(13, 25), events4 = c(18, 27))"
    ),
    tests = c("Dunnett", "Bonferroni", "Simes", "Sidak")
  ),
  list(
    id = "rates-3arms-K3-OF-rejected-early-then-weaker",
    design = "getDesignInverseNormal(kMax = 3, alpha = 0.025, typeOfDesign = 'asOF', informationRates = c(0.3, 0.7, 1))",
    data = paste(
      "getDataset(n1 = c(60, 80, 60), n2 = c(60, 80, NA), n3 = c(60, 80, 60), n4 = c(60, 80, 60),",
      "events1 = c(33, 46, 5), events2 = c(27, 35, NA), events3 = c(24, 40, 6), events4 = c(18, 24, 30))"
    ),
    tests = c("Dunnett", "Bonferroni", "Simes", "Sidak")
  ),
  list(
    id = "means-normal-3arms-K3-OF-arms-dropped-at-stages-2-and-3",
    design = "getDesignInverseNormal(kMax = 3, alpha = 0.025, typeOfDesign = 'asOF')",
    data = paste(
      "getDataset(n1 = c(25, 24, 26), n2 = c(25, NA, NA), n3 = c(24, 25, NA), n4 = c(25, 25, 25),",
      "means1 = c(1.9, 1.7, 1.8), means2 = c(0.9, NA, NA), means3 = c(1.4, 1.2, NA), means4 = c(1.0, 0.9, 1.1),",
      "stds1 = c(1.3, 1.2, 1.25), stds2 = c(1.1, NA, NA), stds3 = c(1.2, 1.3, NA), stds4 = c(1.15, 1.2, 1.1))"
    ),
    normalApproximation = TRUE,
    tests = c("Dunnett", "Bonferroni", "Simes", "Sidak")
  ),
  list(
    # rpact's own example (man-roxygen/examples_get_closed_combination_test_results.R):
    # t tests, so only the p-value based intersection tests are compared
    id = "means-t-3arms-K4-OF-arm2-dropped-rpact-example",
    design = "getDesignInverseNormal(kMax = 4)",
    data = paste(
      "getDataset(n1 = c(22, 23), n2 = c(21, NA), n3 = c(20, 25), n4 = c(25, 27),",
      "means1 = c(1.63, 1.51), means2 = c(1.4, NA), means3 = c(0.91, 0.95), means4 = c(0.83, 0.75),",
      "stds1 = c(1.2, 1.4), stds2 = c(1.3, NA), stds3 = c(1.1, 1.14), stds4 = c(1.02, 1.18))"
    ),
    tests = c("Bonferroni", "Simes", "Sidak")
  )
)

num <- function(x) {
  x <- as.matrix(x)
  out <- lapply(seq_len(nrow(x)), function(i) sprintf("%.17g", x[i, ]))
  lapply(out, function(r) ifelse(r == "NA", NA, r))
}
mat <- function(x) {
  x <- as.matrix(x)
  lapply(seq_len(nrow(x)), function(i) as.numeric(x[i, ]))
}

cases <- list()
for (ds in datasets) {
  design <- eval(parse(text = ds$design))
  data <- eval(parse(text = ds$data))
  gMax <- data$getNumberOfGroups() - 1
  for (test in ds$tests) {
    call <- sprintf("getStageResults(design, dataInput = data, intersectionTest = '%s'%s)",
      test, if (isTRUE(ds$normalApproximation)) ", normalApproximation = TRUE" else "")
    stageResults <- eval(parse(text = call))
    ctr <- getClosedCombinationTestResults(stageResults)
    stages <- data$getNumberOfStages()
    sizes <- sapply(seq_len(stages), function(k) {
      c(data$getSampleSizes(stage = k, group = gMax + 1), data$getSampleSizes(stage = k, group = 1:gMax))
    })
    cases[[length(cases) + 1]] <- list(
      id = paste0(ds$id, "-", test),
      design_call = ds$design,
      data_call = ds$data,
      stage_results_call = call,
      closed_test_call = "getClosedCombinationTestResults(stageResults)",
      intersection_test = test,
      normal = isTRUE(ds$normalApproximation) || grepl("events", ds$data),
      critical_values = design$criticalValues,
      information_rates = design$informationRates,
      weights = stageResults$weightsInverseNormal,
      # per stage: control first, then treatment arms 1..gMax (NA: arm not run)
      sample_sizes = mat(t(sizes)),
      test_statistics = mat(stageResults$testStatistics[, seq_len(stages), drop = FALSE]),
      separate_p_values = mat(stageResults$separatePValues[, seq_len(stages), drop = FALSE]),
      indices = mat(ctr$indices),
      adjusted_stage_wise_p_values = mat(ctr$adjustedStageWisePValues[, seq_len(stages), drop = FALSE]),
      overall_adjusted_test_statistics = mat(ctr$overallAdjustedTestStatistics[, seq_len(stages), drop = FALSE]),
      rejected_intersections = mat(ctr$rejectedIntersections[, seq_len(stages), drop = FALSE]),
      rejected = mat(ctr$rejected[, seq_len(stages), drop = FALSE])
    )
  }
}
out <- list(
  source = sprintf("rpact %s (getStageResults, getClosedCombinationTestResults), R %s",
    packageVersion("rpact"), getRversion()),
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
  "tests/design/rpact/multiarm_closed_tests.json")

# rpact's boundaries and design characteristics for each design line of a file.
# Rscript designs.R IN OUT; IN lines: id|kMax|information rates|alpha|beta|typeOfDesign|
# gammaA or deltaWT|typeBetaSpending|gammaB|bindingFutility; OUT lines: id|quantity|values.
# Written by generate.py (tests/design/rpact/), which also reads the output.
suppressMessages(library(rpact))
args <- commandArgs(TRUE)
lines <- readLines(args[1])
out <- file(args[2], "w")
fmt <- function(x) if (is.null(x)) "NULL" else paste(sprintf("%.15g", x), collapse=",")
for (ln in lines) {
  p <- strsplit(ln, "|", fixed=TRUE)[[1]]
  id <- p[1]; k <- as.integer(p[2]); r <- as.numeric(strsplit(p[3], ",")[[1]])
  alpha <- as.numeric(p[4]); beta <- as.numeric(p[5]); eff <- p[6]; ep <- as.numeric(p[7])
  fut <- p[8]; fp <- as.numeric(p[9]); bind <- as.logical(p[10])
  res <- tryCatch({
    a <- list(kMax=k, informationRates=r, alpha=alpha, beta=beta, sided=1, typeOfDesign=eff)
    if (eff %in% c("asKD","asHSD")) a$gammaA <- ep
    if (eff == "WT") a$deltaWT <- ep
    if (fut != "NA") { a$typeBetaSpending <- fut; a$bindingFutility <- bind; if (fut %in% c("bsKD","bsHSD")) a$gammaB <- fp }
    d <- do.call(getDesignGroupSequential, a)
    ch <- getDesignCharacteristics(d)
    c(paste0(id,"|crit|",fmt(d$criticalValues)),
      paste0(id,"|fut|",fmt(d$futilityBounds)),
      paste0(id,"|cumalpha|",fmt(d$alphaSpent)),
      paste0(id,"|betaspent|",fmt(d$betaSpent)),
      paste0(id,"|shift|",fmt(ch$shift)),
      paste0(id,"|infl|",fmt(ch$inflationFactor)),
      paste0(id,"|rej|",fmt(ch$rejectionProbabilities)),
      paste0(id,"|futp|",fmt(ch$futilityProbabilities)),
      paste0(id,"|power|",fmt(ch$power)),
      paste0(id,"|asn0|",fmt(ch$averageSampleNumber0)),
      paste0(id,"|asn1|",fmt(ch$averageSampleNumber1)))
  }, error=function(e) paste0(id,"|error|",gsub("[\r\n|]"," ",conditionMessage(e))),
     warning=function(w) paste0(id,"|warning|",gsub("[\r\n|]"," ",conditionMessage(w))))
  writeLines(res, out)
}
close(out)

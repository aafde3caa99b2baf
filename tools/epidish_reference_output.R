# EpiDISH's own fractions on a test matrix, stored as test data for tests/test_composition.py.
#
# Run once by hand (R from Debian: apt-get install r-base-core r-cran-mass r-cran-quadprog r-cran-e1071);
# EpiDISH itself is not installed: its R/epidish.R is sourced from its public source tree
# (https://github.com/sjczheng/EpiDISH, GPL-2), since CRAN/Bioconductor are not reachable here.
#
#   Rscript tools/epidish_reference_output.R PATH/TO/EpiDISH tests/fixtures/epidish
#
# For each reference, mixtures of its cell-type profiles with known fractions, Gaussian noise and a
# few gross outliers per sample (which the robust regression must resist), some samples missing a
# cell type and some with fractions summing below 1 (so that the constrained projection meets its
# bounds), rounded to 6 decimals (the planted fractions are kept too); then epidish(method = "RPC") and epidish(method = "CP").
suppressMessages({library(MASS); library(quadprog); library(e1071)})
args <- commandArgs(trailingOnly = TRUE)
source(file.path(args[1], "R", "epidish.R"))
out <- args[2]
data_dir <- file.path("src", "epiclock", "data", "composition")
set.seed(20)

mixtures <- function(ref.m, n) {
    k <- ncol(ref.m)
    frac <- matrix(rgamma(n * k, shape = 1), nrow = n)
    frac[cbind(seq_len(n), sample(k, n, replace = TRUE))] <- 0  # each sample lacks one cell type
    frac <- frac / rowSums(frac) * runif(n, 0.7, 1)             # the rest: unexplained signal
    beta <- ref.m %*% t(frac) + matrix(rnorm(nrow(ref.m) * n, sd = 0.03), nrow = nrow(ref.m))
    for (s in seq_len(n)) {
        gross <- sample(nrow(ref.m), 10)
        beta[gross, s] <- runif(10)
    }
    beta <- round(pmin(pmax(beta, 0), 1), 6)
    colnames(beta) <- sprintf("S%02d", seq_len(n))
    list(beta = beta, frac = frac)
}

write_table <- function(m, path, first) {
    m[] <- trimws(formatC(m, digits = 17, format = "g"))
    write.table(cbind(setNames(data.frame(rownames(m)), first), m), path, sep = "\t", quote = FALSE,
                row.names = FALSE)
}

for (name in c("epidish_epi_fib_ic", "salas2022_blood12_epic")) {
    ref <- read.delim(file.path(data_dir, paste0(name, ".tsv")), row.names = 1, check.names = FALSE)
    ref.m <- as.matrix(ref)
    mix <- mixtures(ref.m, 12)
    write.table(cbind(cpg_id = rownames(mix$beta), as.data.frame(mix$beta)), file.path(out, paste0(name, "_betas.tsv")),
                sep = "\t", quote = FALSE, row.names = FALSE)
    rpc <- epidish(mix$beta, ref.m, method = "RPC", maxit = 50)$estF
    cp <- suppressMessages(epidish(mix$beta, ref.m, method = "CP", constraint = "inequality")$estF)
    write_table(rpc, file.path(out, paste0(name, "_rpc.tsv")), "sample_id")
    write_table(cp, file.path(out, paste0(name, "_cp.tsv")), "sample_id")
    planted <- mix$frac
    dimnames(planted) <- list(colnames(mix$beta), colnames(ref.m))
    write_table(planted, file.path(out, paste0(name, "_planted.tsv")), "sample_id")
}
writeLines(c(paste("R", getRversion()), paste("MASS", packageVersion("MASS")),
             paste("quadprog", packageVersion("quadprog")),
             paste("EpiDISH source", read.dcf(file.path(args[1], "DESCRIPTION"), fields = "Version"))),
           file.path(out, "versions.txt"))

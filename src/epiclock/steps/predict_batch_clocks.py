"""Rule predict_batch_clocks: every clock of the run on one batch's samples."""

from __future__ import annotations

import pandas as pd

from epiclock.clocks import predict, preprocessing, registry
from epiclock.clocks import clock as clocks_clock
from epiclock.io import merge
from epiclock.io.tables import read_matrix, read_matrix_rows, read_sample_sheet, write_parquet


def predict_batch_clocks(matrix: str, output: str, clock_config: dict,
                         custom_dirs: dict[str, str] | None = None, details_output: str | None = None,
                         sheet: str | None = None, age_column: str = "donor_age", sex_column: str = "sex") -> None:
    """Every clock of the run on one batch's samples (a sample's age never depends on the others).

    The clocks' further outputs (GrimAge's surrogates, epiTOC2's divisions per year) go to
    ``details_output``; clocks that read a sample's age and sex (GrimAge) take them from ``sheet``.
    """
    names = list(clock_config["names"])
    clocks = registry.resolve(names, custom_dirs)
    # Only the rows the clocks read, unless one of them standardises each sample over the whole array.
    needed = predict.required_cpgs(clocks)
    betas = read_matrix(matrix) if needed is None else read_matrix_rows(matrix, needed, row_names=preprocessing.cpg_names)
    betas = merge.mask_invalid(betas)
    if betas.shape[1] == 0:
        write_parquet(pd.DataFrame(columns=clocks_clock.PREDICTION_COLUMNS), output)
        if details_output:
            write_parquet(pd.DataFrame(columns=clocks_clock.DETAIL_COLUMNS), details_output)
        return
    covariates = (clocks_clock.sample_covariates(read_sample_sheet(sheet), age_column, sex_column)
                  if sheet and any(clock.covariates or clock.rate_per_year for clock in clocks) else None)
    predictions, details = predict.predict_with_details(
        betas, clocks, imputation=clock_config["imputation"], min_coverage=float(clock_config["min_coverage"]),
        replicates=clock_config["replicates"], sample_tissue=clock_config.get("tissue"), covariates=covariates)
    write_parquet(predictions, output)
    if details_output:
        write_parquet(details, details_output)

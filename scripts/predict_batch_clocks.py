from epiclock.steps.run import run_step
from epiclock.steps.predict_batch_clocks import predict_batch_clocks

run_step(
    snakemake,
    predict_batch_clocks,
    matrix=snakemake.input.matrix,
    output=snakemake.output.predictions,
    clock_config=snakemake.params.clocks,
    custom_dirs=snakemake.params.custom_dirs,
    details_output=snakemake.output.details,
    sheet=snakemake.input.samples,
    age_column=snakemake.params.age_column,
    sex_column=snakemake.params.sex_column,
)

"""Per-sample preprocessing of IDATs: noob (``noob``, ``normexp``), dye bias (``dye_bias``), channel inference
(``channel_inference``), detection p-values (``detection``), BMIQ (``bmiq``), probe masks (``masks``), control
metrics (``controls``) and the per-sample pipeline that runs them (``pipeline``).
"""

"""The array model: where probes sit (``layout``), one sample's intensities (``channels``), raw signals
(``signals``), and betas and M-values (``betas``).
"""

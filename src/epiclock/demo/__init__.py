"""The simulators behind the demo study: betas (``simulate``) and IDATs with their manifest (``simulate_arrays``).
"""

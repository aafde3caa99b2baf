"""Sample quality control: beta metrics (``metrics``), sex (``sex``), identity (``identity``), and the judgement
that passes or quarantines a sample (``assess``).
"""

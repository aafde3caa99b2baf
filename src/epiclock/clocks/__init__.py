"""Epigenetic clocks: the linear model (``model``), preprocessing steps (``preprocessing``), the ``Clock``
(``clock``), the shipped clocks (``registry``, ``data``), predictions (``predict``) and custom clocks (``training``).
"""

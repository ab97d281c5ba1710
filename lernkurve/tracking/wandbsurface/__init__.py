"""wandb's common surface on a Lernkurve run: ``import lernkurve as wandb`` keeps a script
written for Weights & Biases working, locally, with the app's steering on top.

``entry`` (``init``), ``api`` (the module-level ``log``, ``config``, ``summary``, ``watch``,
``finish`` ...), ``runview`` (the run object wandb scripts hold), ``stepper`` (wandb's step
rules), ``config`` and ``summary`` (their objects), ``media`` (Histogram, Image, Table),
``record`` (what a logged value becomes), ``watching`` (the optimizer found at its first step),
``names`` (what is not covered: one warning each). The README lists the covered surface.
"""

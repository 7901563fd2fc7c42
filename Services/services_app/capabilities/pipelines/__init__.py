"""DVC pipelines as a capability: run them, read their metrics, check them
against model tests, render the report a pull request gets.

Django-free: the `pipelines.run` job, the management commands and the DVC
stage scripts (for the robustness perturbations and featurizers) all call
these functions.
"""

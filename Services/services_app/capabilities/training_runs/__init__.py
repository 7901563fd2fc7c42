"""Training runs: a model's view of its data, per sample.

A training script logs its dataset and, per epoch, the model's embeddings and
probabilities through the Python client (``clients/python``); the client
uploads one *bundle* (see `bundle.py`) and the job `jobs.process` computes,
per sample and per split:

- training dynamics (`dynamics.py`): the area under the margin across epochs
  (Pleiss et al. 2020) and the final-epoch margin, combined into a data error
  potential with easy / ambiguous / hard bands, and samples on the decision
  boundary;
- likely mislabelled samples (`mislabel.py`): confident learning (cleanlab,
  Northcutt et al. 2021) agreeing with the training dynamics, with a
  suggested label;
- coverage (`coverage.py`): the cosine distance of each sample to its k-th
  nearest training neighbour against the training split's own distribution;
  out-of-coverage samples and a drift share per split;
- clusters of the embeddings with their top words (`clusters.py`) and error
  rates per class and per metadata slice (`slices.py`).

Results are one Parquet file per split plus ``summary.json``; `results.py`
reads, filters, exports and compares them. Everything here but `submit.py`
is free of Django.
"""

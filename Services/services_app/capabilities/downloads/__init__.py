"""Data download: connectors that pull external data into ``<DATA_ROOT>/raw/<connector>/``
(with recorded checksums) and on to Parquet."""

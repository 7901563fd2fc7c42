"""Model sync: models in a GCS bucket (``gs://<bucket>/<name>/<version>/...``)
and on local disk (``<MODELS_ROOT>/<name>/<version>/...``), compared by a
manifest of per-file md5 sums, moved in parallel, verified, replaced atomically."""

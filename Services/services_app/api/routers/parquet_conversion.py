from ninja import Router

router = Router(tags=["parquet-conversion"])

from ninja import Router

router = Router(tags=["model-downloader"])

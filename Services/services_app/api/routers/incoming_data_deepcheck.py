from ninja import Router

router = Router(tags=["incoming-data-deepcheck"])

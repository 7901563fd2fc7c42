from ninja import Router

router = Router(tags=["data-processor-classification-job"])

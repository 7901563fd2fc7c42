from ninja import Router

router = Router(tags=["build-knowledgebase"])

"""The job function of kind ``knowledgebase.build``: the stored request back as its model, then the build."""

from __future__ import annotations

from ...jobs.context import JobContext
from .build import build_knowledgebase
from .request import KnowledgeBaseRequest


def build(ctx: JobContext, params: dict) -> dict:
    """Build or incrementally rebuild the knowledge base ``params['name']`` from ``params['source']``."""
    return build_knowledgebase(ctx, KnowledgeBaseRequest.from_params(params).options())

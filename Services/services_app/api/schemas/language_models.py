from ninja import Field, Schema


class SimilarWord(Schema):
    word: str
    similarity: float


class SimilarOut(Schema):
    word: str
    similar: list[SimilarWord]


class NextWord(Schema):
    word: str
    probability: float


class NextOut(Schema):
    context: str
    next: list[NextWord]


class PerplexityIn(Schema):
    texts: list[str] = Field(min_length=1, max_length=10_000, examples=[["the company reduced its emissions"]])


class PerplexityOut(Schema):
    perplexity: float
    tokens: int
    log_prob: float
    oov_rate: float

from typing import Literal

from ninja import Field, Schema

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+=@-]{0,199}$"


class ModelSideOut(Schema):
    files: int = Field(description="Number of files in the version")
    size: int = Field(description="Total bytes")
    checksum: str = Field(description="md5 of the version's manifest (sorted `path<TAB>md5` lines)")
    location: str | None = Field(None, description="gs:// prefix of the version in the bucket")
    path: str | None = Field(None, description="Local folder of the version")


class ModelVersionOut(Schema):
    name: str = Field(examples=["esg-classifier"])
    version: str = Field(examples=["v3"])
    status: Literal["in_sync", "differs", "remote_only", "local_only"]
    in_sync: bool
    remote: ModelSideOut | None
    local: ModelSideOut | None


class ModelFilters(Schema):
    name: str | None = Field(None, description="Only this model", examples=["esg-classifier"])
    status: Literal["in_sync", "differs", "remote_only", "local_only"] | None = None

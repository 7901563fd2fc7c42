"""Data download's one request model, with a strict parameter model per connector.

The connector's parameters are checked by the connector's own model when the
request arrives (a misspelt ``params`` key is a 422 that lists the known ones),
so the job never meets a parameter it does not understand."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from ...params import RequestModel

KIND = "datasets.download"


class Retries(RequestModel):
    retries: int = Field(4, ge=0, le=20, description="Attempts after the first on 429, 5xx and connection errors")
    backoff_seconds: float = Field(1.0, ge=0, le=600, description="First wait; doubles per attempt (with jitter)")
    max_wait_seconds: float = Field(60.0, ge=0, le=3600, description="Longest single wait, Retry-After included")
    timeout_seconds: float = Field(60.0, gt=0, le=3600, description="Connect and read timeout per request")


class UrlParams(Retries):
    """Any http(s) URL or a gs:// object in an allowed bucket."""

    url: str = Field(min_length=1, max_length=8192, examples=["https://example.org/data/emissions.csv"])
    filename: str | None = Field(None, max_length=255, description="File name to save as (default: from the URL)")
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$", description="Expected sha256 of the content")
    md5: str | None = Field(None, pattern=r"^[0-9a-fA-F]{32}$", description="Expected md5 of the content")
    content_type: str | None = Field(None, max_length=200, description="Expected media type, e.g. text/csv")
    max_bytes: int | None = Field(None, ge=1, description="Refuse larger content (default 5 GiB)")

    @field_validator("url")
    @classmethod
    def _fetchable_scheme(cls, url: str) -> str:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https", "gs"):
            raise ValueError(f"give an http, https or gs:// URL, not {scheme + '://' if scheme else 'no scheme'}")
        return url


class OekobaudatParams(Retries):
    """The ÖKOBAUDAT (soda4LCA) process listing, optionally with every process data set."""

    base_url: str | None = Field(
        None, max_length=2048, pattern=r"^https?://", description="soda4LCA resource URL (default: ÖKOBAUDAT)"
    )
    data_stock: str | None = Field(None, description="Data stock UUID")
    compliance: str | None = Field(None, description="A1, A2 or a compliance system's source UUID")
    page_size: int = Field(500, ge=1, le=5000)
    max_records: int | None = Field(None, ge=1)
    fetch_datasets: bool = Field(False, description="Also fetch every process data set (one request each)")
    lang: str | None = Field(None, max_length=8, examples=["de", "en"])


CONNECTOR_PARAMS: dict[str, type[Retries]] = {"url": UrlParams, "oekobaudat": OekobaudatParams}


class DatasetDownloadRequest(RequestModel):
    """Fetch external data into ``raw/<connector>/`` and optionally convert it to Parquet."""

    connector: Literal["url", "oekobaudat"] = Field(
        description="`url` (http, https or gs://) or `oekobaudat` (soda4LCA API)"
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Connector parameters. url: `url`, `filename`, `sha256`, `md5`, `content_type`, `max_bytes`, "
            "`retries`, `backoff_seconds`, `max_wait_seconds`, `timeout_seconds`. oekobaudat: `base_url`, "
            "`data_stock`, `compliance` (A1, A2 or a source UUID), `page_size`, `max_records`, `fetch_datasets`, "
            "`lang`, and the same retry settings."
        ),
    )
    convert: bool = Field(False, description="Convert what was fetched to Parquet under `parquet/<connector>/`")
    convert_options: dict[str, Any] | None = Field(None, description="Options for the Parquet conversion")
    force: bool = Field(False, description="Fetch again even if an identical job already succeeded")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "connector": "url",
                    "params": {"url": "https://example.org/data/emissions.csv", "content_type": "text/csv"},
                    "convert": True,
                },
                {
                    "connector": "oekobaudat",
                    "params": {"data_stock": "cd2bda71-760b-4fcc-8a0b-3877c10000a8", "compliance": "A2"},
                },
            ]
        }
    }

    @model_validator(mode="after")
    def _connector_params(self) -> DatasetDownloadRequest:
        # Validated here (a 422 naming the key) and stored with the connector's defaults filled in.
        model = CONNECTOR_PARAMS[self.connector]
        self.params = model.model_validate(self.params).model_dump(mode="json", exclude_none=True)
        if self.convert_options:
            from ..conversion import ConvertOptions

            ConvertOptions.from_dict(self.convert_options)
        return self

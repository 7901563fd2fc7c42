from typing import Any

from ninja import Field, Schema


class DatasetDownloadIn(Schema):
    connector: str = Field(description="`url` (http, https or gs://) or `oekobaudat` (soda4LCA API)")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Connector parameters. url: `url`, `filename`, `sha256`, `md5`, `content_type`, `max_bytes`, "
            "`retries`, `backoff_seconds`, `timeout_seconds`. oekobaudat: `base_url`, `data_stock`, "
            "`compliance` (A1, A2 or a source UUID), `page_size`, `max_records`, `fetch_datasets`, `lang`."
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


class ConnectorOut(Schema):
    name: str
    description: str

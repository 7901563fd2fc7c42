"""Property-based requests generated from our own OpenAPI document, sent over
HTTP to a live server: whatever a client sends, the API never answers 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from services_app.api.api import api

schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/"))

pytestmark = [pytest.mark.slow]


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_api_fail(case, live_server, api_key):
    case.call_and_validate(base_url=live_server.url, headers={"X-API-Key": api_key}, checks=[not_a_server_error])

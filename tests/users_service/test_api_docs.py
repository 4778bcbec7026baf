"""`/api/docs/` (Swagger UI) loads nothing from another host: it works offline."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.api_docs import DOCS_PAGES, assert_docs_page_is_offline

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_page_loads_only_files_of_the_service(api_client, page):
    assert_docs_page_is_offline(api_client, page)


@pytest.mark.parametrize(
    ("path", "output", "not_found"),
    [
        ("/api/catalogue/{kind}/", "CatalogueOutput", "Unknown catalogue kind."),
        ("/api/users/{user_id}/resources/", "ResourcesOutput", "The monolith has no such employee."),
    ],
)
def test_schema_of_each_cached_endpoint_documents_its_404_its_503_and_x_cache(path, output, not_found):
    get = SchemaGenerator().get_schema(request=None, public=True)["paths"][path]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{output}"
    }
    assert get["responses"]["404"]["description"] == not_found
    assert get["responses"]["503"]["description"] == "Monolith down and nothing cached."
    assert get["description"].endswith(
        "from the cache (filled from the monolith on a miss); `X-Cache: hit|miss`."
    )

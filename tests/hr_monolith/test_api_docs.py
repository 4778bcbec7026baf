"""`/api/docs/` (Swagger UI) loads nothing from another host: it works offline."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.api_docs import DOCS_PAGES, assert_docs_page_is_offline

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_page_loads_only_files_of_the_service(api_client, page):
    assert_docs_page_is_offline(api_client, page)


@pytest.mark.parametrize("action", ["deactivate", "reactivate"])
def test_schema_documents_each_active_state_change_as_its_own_operation(action):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    post = schema["paths"][f"/api/users/{{user_id}}/{action}/"]["post"]
    assert post["operationId"] == f"users_{action}"
    assert "requestBody" not in post
    assert sorted(post["responses"]) == ["200", "404"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserOutput"
    }

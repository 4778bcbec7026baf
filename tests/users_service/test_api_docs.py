"""`/api/docs/` (Swagger UI) loads nothing from another host: it works offline."""

from __future__ import annotations

import pytest

from tests.api_docs import DOCS_PAGES, foreign_references, missing_static_files, page_references

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_page_loads_only_files_of_the_service(api_client, page):
    response = api_client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert page_references(html), "the page references no script or style at all"
    assert foreign_references(html) == []
    assert missing_static_files(html) == []

"""`/api/docs/` (Swagger UI) loads nothing from another host: it works offline."""

from __future__ import annotations

import pytest

from tests.api_docs import DOCS_PAGES, assert_docs_page_is_offline

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_page_loads_only_files_of_the_service(api_client, page):
    assert_docs_page_is_offline(api_client, page)

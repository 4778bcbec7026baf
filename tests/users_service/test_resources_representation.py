"""The users service caches the monolith's resources answer and serves it as is. Its API docs
describe that body with serializers built from the declaration both services read
(events/representations.py); the monolith's side is checked in tests/hr_monolith/test_resources.py."""

from __future__ import annotations

from drf_spectacular.generators import SchemaGenerator

from events.representations import RESOURCE_GRANT, USER_RESOURCES


def test_users_service_documents_the_resources_body_with_the_declared_fields():
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]

    assert list(components["ResourcesOutput"]["properties"]) == list(USER_RESOURCES)
    assert components["ResourcesOutput"]["properties"]["resources"]["items"] == {
        "$ref": "#/components/schemas/GrantOutput"
    }
    assert list(components["GrantOutput"]["properties"]) == list(RESOURCE_GRANT)
    assert components["GrantOutput"]["properties"]["granted_at"]["format"] == "date-time"

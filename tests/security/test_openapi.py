"""The OpenAPI document the shop serves describes the API the route table has: no more, no less."""

import pytest

from burts_books.app import routes
from burts_books.web.base import JsonHandler, allowed_methods
from burts_books.web.cart import CartHandler

OPENAPI = "/api/openapi.json"


def api_routes():
    """The routes programs call: /api/ addresses, JSON handlers, and the cart, which answers programs in JSON too."""
    return [spec for spec in routes()
            if spec.regex.pattern.startswith("/api/") or issubclass(spec.handler_class, (JsonHandler, CartHandler))]


def sample_path(path: str, item: dict) -> str:
    """The documented path with each parameter replaced by its first example."""
    parameters = [p for operation in item.values() for p in operation.get("parameters", ()) if p["in"] == "path"]
    for parameter in parameters:
        path = path.replace(f"{{{parameter['name']}}}", parameter["schema"]["examples"][0])
    assert "{" not in path, f"{path}: a path parameter without an example"
    return path


def route_of(path: str):
    matching = [spec for spec in routes() if spec.regex.fullmatch(path)]
    assert matching, f"{path} is documented but no route serves it"
    return matching[0]


@pytest.mark.gen_test
async def test_the_shop_serves_an_openapi_31_document_with_errors_and_bearer_auth(client):
    document = await client.get_json(OPENAPI)
    assert document["openapi"] == "3.1.0"
    bearer = document["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and error["properties"]["error"]["required"] == ["status", "message"]
    statuses = {status for item in document["paths"].values() for operation in item.values()
                for status in operation["responses"]}
    assert {"200", "400", "401", "403", "404", "409", "429"} <= statuses


@pytest.mark.gen_test
async def test_every_api_route_is_documented_and_every_documented_path_exists(client):
    document = await client.get_json(OPENAPI)
    documented = {}
    for path, item in document["paths"].items():
        spec = route_of(sample_path(path, item))
        assert sorted(item) == sorted(m.lower() for m in allowed_methods(spec.handler_class)), path
        documented[spec.regex.pattern] = path
    undocumented = [spec.regex.pattern for spec in api_routes() if spec.regex.pattern not in documented]
    assert undocumented == []


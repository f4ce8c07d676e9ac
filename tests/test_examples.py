"""Every request example of /openapi.json does what it documents, sent to empty tables.

The examples are what /docs fills in: a newcomer who presses Execute on each, in this order,
gets the documented success every time.
"""

from typing import Any

import httpx

# Creations first, then what needs them; the path parameters come from the document too.
ORDER = [
    ("post", "/api/v1/users"),
    ("post", "/api/v1/users/batch"),
    ("post", "/api/v1/users/authenticate"),
    ("patch", "/api/v1/users/{user_id}"),
    ("post", "/api/v1/organizations"),
    ("patch", "/api/v1/organizations/{organization_id}"),
    ("put", "/api/v1/organizations/{organization_id}/members/{user_id}"),
]


def _with_body(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }


def _path_of(template: str, operation: dict[str, Any]) -> str:
    path = template
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            (example,) = parameter["schema"]["examples"][:1]
            path = path.replace("{" + parameter["name"] + "}", str(example))
    return path


async def test_every_operation_with_a_body_documents_examples(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    assert _with_body(document) == set(ORDER)
    for method, path in ORDER:
        content = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert content["examples"], (method, path)


async def test_every_request_example_gets_its_documented_success(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    for method, template in ORDER:
        operation = document["paths"][template][method]
        successes = {int(status) for status in operation["responses"] if status.startswith("2")}
        examples = operation["requestBody"]["content"]["application/json"]["examples"]
        for name, example in examples.items():
            response = await client.request(
                method, _path_of(template, operation), json=example["value"]
            )

            assert response.status_code in successes, (template, name, response.text)

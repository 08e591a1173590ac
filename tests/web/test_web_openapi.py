"""Issue 12 #13: the OpenAPI document matches the responses (schemathesis, in-process).

schemathesis generates requests from ``/openapi.json`` for every operation, valid
ones and invalid ones, and checks each answer against the document: a documented
status, a body of the documented schema, the documented content type, no 5xx,
invalid data rejected, the token really required. The app is called in-process
through its ASGI interface (nothing listens on a socket), with a token, as a
remote client would call it. Bounded: ``EXAMPLES`` per operation and mode keeps the
run near half a minute.

One check is left out: ``positive_data_acceptance`` expects every request that
matches the schema to succeed, but a schema cannot say which function paths import
or which requirements exist, and those are a 422 with lazyext's error body (which
the document describes, and the response-schema check verifies).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("schemathesis")

from webkit import TOKEN

EXAMPLES = 20


@pytest.mark.slow
def test_the_api_conforms_to_its_openapi_document(config_file: Path) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.python.asgi import shutdown_lifespans
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    from lazyext.web import create_app

    auth = {"Authorization": f"Bearer {TOKEN}"}
    app = create_app(config_file, token=TOKEN, scheduler=False)
    failures: dict[str, str] = {}
    operations = 0
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                test = _operation_test(operation, mode, auth, [positive_data_acceptance])
                given_test = given(case=operation.as_strategy(generation_mode=mode))(test)
                bounded = settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                    derandomize=True,
                )(given_test)
                try:
                    bounded()
                except Exception as error:  # a failure group: every distinct failure
                    failures[f"{operation.method.upper()} {operation.path} ({mode.value})"] = str(
                        error
                    )[:2000]
    finally:
        shutdown_lifespans()
    assert operations >= 25  # every route of the API is in the document
    assert not failures, "\n\n".join(f"{key}:\n{text}" for key, text in failures.items())


def _operation_test(
    operation: Any, mode: Any, auth: dict[str, str], excluded: list[Any]
) -> Callable[[Any], None]:
    def test(case: Any) -> None:
        case.call_and_validate(headers=auth, excluded_checks=excluded)

    return test


def test_each_error_status_is_documented_with_the_body_it_has(
    serve: Callable[..., Any],
) -> None:
    from lazyext.web.models import ErrorResponse, ValidationErrorResponse

    client = serve(scheduler=False, max_body_bytes=1024)
    document = client.get("/openapi.json").json()

    def schema(path: str, method: str, status: int) -> Any:
        response = document["paths"][path][method]["responses"][str(status)]
        return response["content"]["application/json"]["schema"]

    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for status in (401, 403, 404, 409, 413, 503):
        assert schema("/tasks", "post", status) == error, status
    assert schema("/plugins/upload", "post", 415) == error
    assert error in schema("/tasks", "post", 400)["anyOf"]
    fields = {"$ref": "#/components/schemas/ValidationErrorResponse"}
    assert schema("/tasks", "post", 422)["anyOf"] == [fields, error]

    # The answers have those bodies.
    too_big = client.post("/tasks", content=b"[" + b" " * 2048 + b"]")
    assert too_big.status_code == 413
    ErrorResponse.model_validate(too_big.json())
    not_multipart = client.post("/plugins/upload", content=b"x")
    assert not_multipart.status_code == 415
    ErrorResponse.model_validate(not_multipart.json())
    broken = client.post(
        "/plugins/upload",
        content=b"--b\r\nno headers at all",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code == 400, broken.text
    ErrorResponse.model_validate(broken.json())
    malformed = client.get("/tasks/%00")
    assert malformed.status_code == 404
    ErrorResponse.model_validate(malformed.json())
    fields_wrong = client.post("/tasks", json={"func": 1})
    assert fields_wrong.status_code == 422
    ValidationErrorResponse.model_validate(fields_wrong.json())
    semantic = client.post("/tasks", json={"func": "no_such_module_xyz:f"})
    assert semantic.status_code == 422
    ErrorResponse.model_validate(semantic.json())

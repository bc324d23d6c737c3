"""The contract as people and tools read it: the OpenAPI document, and the Swagger UI and ReDoc pages.

The pages load their scripts and styles from this app (the assets ship in the fastapi-offline package), never
from a CDN, so they work with no Internet. The document is FastAPI's, plus what FastAPI cannot infer: the
problem+json body every error answer refers to, and no stock validation answer on routes whose only
parameters are plain path strings (they cannot fail validation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from shared.core.problems import ProblemBody

OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"
REDOC_URL = "/api/redoc"
OAUTH2_REDIRECT_URL = f"{DOCS_URL}/oauth2-redirect"
ASSETS_URL = f"{DOCS_URL}/assets"
ASSETS = Path(fastapi_offline.__file__).parent / "static"

# FastAPI's stock 422 answer and its schemas (application/json, not what this API sends).
STOCK_VALIDATION = ("HTTPValidationError", "ValidationError")


def problem_schemas() -> dict[str, Any]:
    """ProblemBody and the models it uses, for the document's components."""
    schema = ProblemBody.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    return {ProblemBody.__name__: schema, **schema.pop("$defs", {})}


def finish_document(document: dict[str, Any]) -> dict[str, Any]:
    for operations in document["paths"].values():
        for operation in operations.values():
            answer = operation["responses"].get("422", {})
            if STOCK_VALIDATION[0] in str(answer.get("content", {})):
                del operation["responses"]["422"]
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in STOCK_VALIDATION:
        schemas.pop(name, None)
    schemas.update(problem_schemas())
    return document


def install_docs(app: FastAPI) -> None:
    """Serve the document (with `finish_document` applied once), the two pages and their assets."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish_document(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"displayOperationId": True},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

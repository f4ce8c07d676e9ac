"""/docs (Swagger UI) and /redoc from assets this package's dependencies ship: no request to
another origin, so both pages work on a network without internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, ReDoc's fonts from Google and the
favicon from fastapi.tiangolo.com; internal networks often block exactly those. The assets
come from fastapi-offline, which packages the released Swagger UI and ReDoc bundles.
"""

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException

ASSETS_PATH = "/docs-assets"
_ASSETS = Path(str(files("fastapi_offline") / "static"))
_SWAGGER_JS = "swagger-ui-bundle.js"
_SWAGGER_CSS = "swagger-ui.css"
_REDOC_JS = "redoc.standalone.js"
_FAVICON = "favicon.png"
# The assets change only with the package: a browser may keep them for a day.
_CACHE_CONTROL = {"Cache-Control": "public, max-age=86400"}
# The pages may load and fetch from this service only. ReDoc's bundle still asks
# cdn.redoc.ly for its own logo (Redocly/redoc#2108); this keeps the browser from sending that
# request at all. Both pages configure themselves in an inline script.
_ONLY_THIS_ORIGIN = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; font-src 'self' data:; connect-src 'self'"
}


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve /docs and /redoc (public, outside the OpenAPI document) and their assets.

    Plain routes, not a mounted folder: the route table in front of FastAPI
    (api/route_table.py) matches every request with one expression over plain routes.
    """

    async def asset(request: Request) -> FileResponse:
        name = request.path_params["name"]
        if name not in {_SWAGGER_JS, _SWAGGER_CSS, _REDOC_JS, _FAVICON}:
            raise HTTPException(status_code=404)
        return FileResponse(_ASSETS / name, headers=_CACHE_CONTROL)

    async def swagger_ui(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/{_SWAGGER_JS}",
            swagger_css_url=f"{ASSETS_PATH}/{_SWAGGER_CSS}",
            swagger_favicon_url=f"{ASSETS_PATH}/{_FAVICON}",
            # The key typed into Authorize survives a reload of the page.
            swagger_ui_parameters={"persistAuthorization": True},
        )
        page.headers.update(_ONLY_THIS_ORIGIN)
        return page

    async def redoc(request: Request) -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/{_REDOC_JS}",
            redoc_favicon_url=f"{ASSETS_PATH}/{_FAVICON}",
            with_google_fonts=False,
        )
        page.headers.update(_ONLY_THIS_ORIGIN)
        return page

    app.add_route(f"{ASSETS_PATH}/{{name}}", asset, include_in_schema=False)
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)

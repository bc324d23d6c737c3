"""Azure Functions entry point: the HTTP API (FastAPI through AsgiFunctionApp)."""

import azure.functions as func

from shared.api import create_app
from shared.settings import get_settings

# The app authenticates every caller itself (API tokens or Easy Auth), so the host lets requests in.
app = func.AsgiFunctionApp(app=create_app(get_settings()), http_auth_level=func.AuthLevel.ANONYMOUS)

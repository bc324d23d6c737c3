"""Azure Functions entry point: the HTTP API (FastAPI through AsgiFunctionApp) and the sweeper timer."""

import logging

import azure.functions as func

from shared.api.app import create_app
from shared.services import ServiceHolder
from shared.settings import get_settings

# The Azure SDKs log every request's headers at INFO, which the host would ship to Application Insights (billed
# by the GB ingested). Their warnings and errors still get through.
logging.getLogger("azure").setLevel(logging.WARNING)

settings = get_settings()
services = ServiceHolder(settings)
# The app authenticates every caller itself (API tokens or Easy Auth), so the host lets requests in.
app = func.AsgiFunctionApp(app=create_app(settings, services), http_auth_level=func.AuthLevel.ANONYMOUS)


@app.timer_trigger(schedule="%SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    """Every few minutes: reconcile, accrue cost, warn and deallocate (see shared/sweeper.py).

    A late run (past_due) is one catch-up pass, not one per missed tick: a pass is idempotent, so it
    simply works from what Table storage and ARM say now.
    """
    from shared.azure.webhook import Webhook
    from shared.sweeper import sweep as run

    if timer.past_due:
        logging.info("sweep is running late; one catch-up pass")
    report = run(services(), Webhook(settings.notify_webhook_url))
    logging.info("sweep: %s", report.as_dict())

"""Azure Functions index: the HTTP API (FastAPI through AsgiFunctionApp), the queue worker and the sweeper
timer. Each body lives in the shared package; this file only binds them to their triggers."""

import logging

import azure.functions as func

from shared.api.app import create_app
from shared.services import ServiceHolder
from shared.settings import get_settings

# The Azure SDKs log every request's headers at INFO, which the host would ship to Application Insights (billed
# by the GB ingested). Their warnings and errors still get through.
logging.getLogger("azure").setLevel(logging.WARNING)

settings = get_settings()
# The API's ARM client retries briefly and never waits on an operation; the worker's and sweeper's are patient.
api_services = ServiceHolder(settings)
background = ServiceHolder(settings, patient=True)
# The app authenticates every caller itself (API tokens or Easy Auth), so the host lets requests in.
app = func.AsgiFunctionApp(app=create_app(settings, api_services), http_auth_level=func.AuthLevel.ANONYMOUS)


@app.queue_trigger(arg_name="msg", queue_name=settings.work_queue, connection="DSVM_QUEUE")
def work(msg: func.QueueMessage) -> None:
    """Everything that waits on Azure (creates, deletes, power actions; see shared/worker.py). A failure is
    retried by the host (host.json `extensions.queues`), then lands in the poison queue."""
    from shared.worker import handle

    handle(background(), msg.get_json())


@app.queue_trigger(arg_name="msg", queue_name=f"{settings.work_queue}-poison", connection="DSVM_QUEUE")
def poisoned(msg: func.QueueMessage) -> None:
    """A message that failed every try: settle its record so a person can act on it."""
    from shared.worker import poisoned as settle

    settle(background(), msg.get_json())


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
    report = run(background(), Webhook(settings.notify_webhook_url))
    logging.info("sweep: %s", report.as_dict())

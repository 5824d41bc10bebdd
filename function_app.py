"""Azure Functions entry point (Python v2 programming model): triggers only, logic in `shared`.

Importing this module reads no settings, so the host can index the functions and tests can
inspect the wiring; the first invocation validates the settings.

The HTTP routes are anonymous to the Functions host on purpose: a function key is a shared secret
with no identity. App Service Authentication (Entra ID, infra/app/function.bicep) is the gate in
front of them, and each route checks the verified caller's app role (shared.authz) before anything
else. The Event Grid webhook is not an HTTP route: it keeps its system key and is excluded from
App Service Authentication.
"""

import azure.functions as func

from shared import handlers

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.event_grid_trigger(arg_name="event")
def on_cluster_event(event: func.EventGridEvent) -> None:
    """Subscription events for managed clusters (created, deleted, started, stopped). A subscription
    in the CloudEvents schema delivers func.CloudEvent (the worker's converter goes by the payload):
    the same event under other names."""
    cloud = isinstance(event, func.CloudEvent)
    event_type = event.type if cloud else event.event_type
    handlers.handle_event(event_type, event.subject, event.get_json(), event.id, event.time if cloud else event.event_time)


@app.queue_trigger(arg_name="message", queue_name="hublink-continue", connection="AzureWebJobsStorage")
def continue_link(message: func.QueueMessage) -> None:
    """A reconcile that asked to look again after N seconds (visibility-delayed message)."""
    handlers.handle_continuation(message.get_body())


@app.timer_trigger(arg_name="timer", schedule="%HUBLINK_TIMER_SCHEDULE%", run_on_startup=False)
def sweep(timer: func.TimerRequest, context: func.Context) -> None:
    """Backstop: everything due (retries, pending approvals, drift checks) and periodic discovery.
    The context carries the invocation id onto the sweep's threads, so their logs reach the host."""
    handlers.sweep(context=context)


def _json(answer: handlers.HttpAnswer) -> func.HttpResponse:
    return func.HttpResponse(answer.json(), status_code=answer.status, mimetype="application/json")


@app.route(route="links/reconcile", methods=["POST"])
def reconcile_link(req: func.HttpRequest) -> func.HttpResponse:
    """Retry one cluster now (HubLink.Operator): {"clusterId": "<ARM id>"} -> the outcome and the link's state."""
    return _json(handlers.http_reconcile(req.get_body(), req.headers))


@app.route(route="links", methods=["GET"])
def list_links(req: func.HttpRequest) -> func.HttpResponse:
    """Every link, optionally ?phase=Ready|Pending|... (HubLink.Reader)."""
    return _json(handlers.http_list(req.params.get("phase"), req.headers))


@app.route(route="links/{subscriptionId}/{resourceGroup}/{clusterName}", methods=["GET"])
def get_link(req: func.HttpRequest) -> func.HttpResponse:
    """One link's state (HubLink.Reader)."""
    p = req.route_params
    return _json(handlers.http_get(p["subscriptionId"], p["resourceGroup"], p["clusterName"], req.headers))


@app.route(route="hubs", methods=["GET"])
def list_hubs(req: func.HttpRequest) -> func.HttpResponse:
    """Each region's hub subnets with used/total addresses, and the region's capacity level (HubLink.Reader)."""
    return _json(handlers.http_hubs(req.headers))


@app.route(route="links/approve", methods=["POST"])
def approve_link(req: func.HttpRequest) -> func.HttpResponse:
    """Manual mode: a person approves a link waiting for approval (HubLink.Approver): {"clusterId", "reason"?}."""
    return _json(handlers.http_approve_link(req.get_body(), req.headers))


@app.route(route="connections/approve", methods=["POST"])
def approve_connection(req: func.HttpRequest) -> func.HttpResponse:
    """Approve any pending connection of a linked cluster (HubLink.Approver): {"clusterId", "connectionName", "reason"}."""
    return _json(handlers.http_set_connection(req.get_body(), "Approved", req.headers))


@app.route(route="connections/reject", methods=["POST"])
def reject_connection(req: func.HttpRequest) -> func.HttpResponse:
    """Reject any pending connection of a linked cluster (HubLink.Approver): {"clusterId", "connectionName", "reason"}."""
    return _json(handlers.http_set_connection(req.get_body(), "Rejected", req.headers))


@app.route(route="doctor", methods=["GET"])
def doctor(req: func.HttpRequest) -> func.HttpResponse:
    """What the product needs, checked for the hub and each spoke (HubLink.Reader): {"ok", "summary", "checks"}."""
    return _json(handlers.http_doctor(req.params.get("subscription"), req.headers))


@app.route(route="status", methods=["GET"])
def status_page(req: func.HttpRequest) -> func.HttpResponse:
    """One self-contained HTML page (HubLink.Reader): counts per phase, every link, hub capacity, the doctor."""
    answer = handlers.http_status_page(req.headers)
    if answer.status != 200:
        return _json(answer)
    return func.HttpResponse(answer.body, status_code=200, mimetype="text/html")

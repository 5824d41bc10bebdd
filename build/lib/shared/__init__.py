"""aks-hublink: reach every private AKS cluster, in any subscription or tenant, from one hub network.

The product's package (the function app in function_app.py is only its triggers). Where things are:

    service      the service layer every trigger, the HTTP API and the CLI call
    controller   reconcile one cluster: lease, steps, waiting, row, notices, requeue
    steps/       the steps, each returning a result (results) or letting the next one run
    paths/       access paths: how the hub reaches each kind of private cluster
    link         what the steps work on (the row, the adapters, the settings they use)
    aks, endpoints, dns, arm, credentials, state, continuation, notify   the adapters
    errors       every error, the 404-means-read-again rule, the error -> HTTP status table
    settings     every app setting, declared once; config reads them
    events       which Event Grid events matter (plain data, shared with stack/ and infra/)
"""

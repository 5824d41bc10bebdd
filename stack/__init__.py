"""stack: the product composed on devcloud (the local Azure, which knows nothing of this product).

stack.product   the function app's settings against a devcloud, and starting it in the local
                Functions host subscribed to every spoke's events (the filter is shared.events)
stack.client    start_stack/stop_stack: `python -m stack up` as another process, for tests and the demo
python -m stack up [--world FILE] [--app-setting NAME=VALUE]...
                devcloud up plus the function app: prints the same DEVCLOUD_READY line
"""

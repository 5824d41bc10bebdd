"""The storage clients' settings: an unreachable account fails an invocation within seconds, so its
trigger's own retry takes over (shared.sdk.StorageAccess). No request is made here."""

from __future__ import annotations

from devcloud.azurite import ACCOUNT, ACCOUNT_KEY

CONNECTION_STRING = (
    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
    f"QueueEndpoint=http://127.0.0.1:10001/{ACCOUNT};"
)


def test_the_continuation_queue_gives_up_on_an_unreachable_account_as_quickly_as_the_table():
    """azure-storage-queue retries with a policy of its own that reads none of azure-core's backoff
    settings (its default waits 15 s, then 18 s): the product gives the queue client quick retries."""
    from azure.storage.queue import QueueClient

    from shared.sdk import StorageAccess

    options = StorageAccess.queue_client_kwargs()
    policy = options["retry_policy"]
    client = QueueClient.from_connection_string(CONNECTION_STRING, "hublink-continue", **options)
    assert client._config.retry_policy is policy, "the client uses the policy given"
    waits = [policy.get_backoff_time({"count": n}) for n in range(1, policy.total_retries + 1)]
    assert policy.total_retries == 2 and max(waits) <= 2.0, waits

"""Azurite stopped and started again on the same data: the storage account of a storage outage."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient

from devcloud.azurite import start_azurite


@pytest.fixture
def persistent_azurite():
    az = start_azurite(persistent=True)
    yield az
    az.remove()


def test_a_stopped_azurite_comes_back_with_its_tables_and_queues(persistent_azurite):
    az = persistent_azurite
    table = TableServiceClient.from_connection_string(az.connection_string).create_table("outage")
    table.create_entity({"PartitionKey": "p", "RowKey": "r", "value": 1})
    queue = QueueClient.from_connection_string(az.connection_string, "outage-q")
    queue.create_queue()
    queue.send_message("still here")
    ports = az.ports()

    az.stop()
    assert not az.running
    down = TableServiceClient.from_connection_string(az.connection_string, retry_total=0).get_table_client("outage")
    with pytest.raises(ServiceRequestError):  # refused at once: nothing listens on the port
        down.get_entity("p", "r")

    az.start_again()
    assert az.running and az.ports() == ports
    again = TableServiceClient.from_connection_string(az.connection_string).get_table_client("outage")
    assert again.get_entity("p", "r")["value"] == 1
    [message] = QueueClient.from_connection_string(az.connection_string, "outage-q").receive_messages()
    assert message.content == "still here"


def test_an_in_memory_azurite_refuses_to_pretend_it_kept_its_data():
    az = start_azurite()
    try:
        az.stop()
        with pytest.raises(RuntimeError, match="persistent=True"):
            az.start_again()
    finally:
        az.remove()

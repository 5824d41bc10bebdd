"""The timer listener's singleton lock by blob lease (devcloud.singleton) on Azurite."""

from __future__ import annotations

import threading
import time
import uuid

from devcloud.singleton import ListenerLock, SingletonSettings, hold_and_run, singleton_settings

FAST = SingletonSettings(listener_lock_period_s=15, recovery_polling_interval_s=0.5)


def lock(azurite, holder: str, host: str) -> ListenerLock:
    return ListenerLock(azurite.connection_string, host, "timer_sweep", FAST, holder)


def test_one_holder_at_a_time_and_the_next_takes_over_when_it_lets_go(azurite):
    host = "h" + uuid.uuid4().hex[:8]
    a, b = lock(azurite, "a", host), lock(azurite, "b", host)
    assert a.name == f"locks/{host}/Host.Functions.timer_sweep.Listener"
    assert a.try_acquire() is True
    assert b.try_acquire() is False and a.renew() is True
    a.release()
    assert b.try_acquire() is True
    assert b.blob.get_blob_properties().metadata == {"FunctionInstance": "b"}
    b.release()


def test_a_dead_holders_lease_runs_out_and_another_instance_runs_the_timer(azurite):
    host = "h" + uuid.uuid4().hex[:8]
    dead = lock(azurite, "dead", host)
    assert dead.try_acquire() is True  # then it is killed: no renewal, no release
    died = time.monotonic()
    stop, running = threading.Event(), []

    def run(lost: threading.Event) -> None:
        running.append(time.monotonic())
        lost.wait(30)

    alive = threading.Thread(target=hold_and_run, args=(lock(azurite, "alive", host), stop, run), daemon=True)
    alive.start()
    deadline = time.monotonic() + 30
    while not running and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    alive.join(timeout=10)
    assert running, "the surviving instance never took the lock over"
    assert 14 <= running[0] - died < 25  # once the 15 s lease ran out (recovery polling 0.5 s)
    assert not alive.is_alive()


def test_only_one_of_several_instances_runs_the_listener(azurite):
    host = "h" + uuid.uuid4().hex[:8]
    stop, active, overlaps, runs = threading.Event(), [], [], []

    def run(lost: threading.Event) -> None:
        active.append(1)
        overlaps.append(len(active))
        runs.append(1)
        lost.wait(1.5)
        active.pop()
        stop.set()  # the holder's host stops: it releases, the others must not have run meanwhile

    threads = [threading.Thread(target=hold_and_run, args=(lock(azurite, f"i{i}", host), stop, run), daemon=True)
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert runs == [1] and overlaps == [1]


def test_host_json_and_app_settings_set_the_lock_periods(tmp_path):
    (tmp_path / "host.json").write_text('{"version": "2.0", "singleton": {"listenerLockPeriod": "00:00:30"}}')
    settings = {"AzureFunctionsJobHost__singleton__listenerLockRecoveryPollingInterval": "00:00:05"}
    assert singleton_settings(str(tmp_path), settings.get) == SingletonSettings(30.0, 5.0)
    assert singleton_settings(str(tmp_path / "none"), {}.get) == SingletonSettings(60.0, 60.0)

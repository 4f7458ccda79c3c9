"""The Locust internals engine/locust_adapter.py relies on are still there, in the shape it was written for.

A Locust upgrade that renames or reshapes one of them fails here, loudly, instead of making a distributed run
quietly lose a worker's final report or stop on the first slow heartbeat.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import locust
from locust import runners as locust_runners
from locust.rpc import Message
from locust.runners import MasterRunner, WorkerRunner

from shopstorm.engine import locust_adapter, workers


def _inside(version: str, specifiers: str) -> bool:
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # packaging is not a dependency of shopstorm: compare release numbers by hand
        release = tuple(int(part) for part in version.split(".")[:3] if part.isdigit())
        for spec in specifiers.split(","):
            bound = tuple(int(part) for part in spec.lstrip("<>=").split("."))
            if spec.startswith(">=") and release[: len(bound)] < bound:
                return False
            if spec.startswith("<") and release[: len(bound)] >= bound:
                return False
        return True
    return SpecifierSet(specifiers).contains(version)


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_installed_locust_is_one_the_adapter_was_written_for():
    assert _inside(locust.__version__, locust_adapter.SUPPORTED_LOCUST), (
        f"Locust {locust.__version__} is outside {locust_adapter.SUPPORTED_LOCUST}: check every function of "
        "engine/locust_adapter.py against its runners.py, then widen the range here and in pyproject.toml"
    )


def test_pyproject_pins_locust_to_the_same_range():
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert f'"locust{locust_adapter.SUPPORTED_LOCUST}"' in pyproject


def test_heartbeat_liveness_is_a_module_constant_the_master_reads_as_it_uses_it(monkeypatch):
    assert isinstance(locust_runners.HEARTBEAT_LIVENESS, int)
    # read at use, not bound at import: raising the module's value reaches every worker that connects afterwards
    assert "HEARTBEAT_LIVENESS" in inspect.getsource(MasterRunner.handle_message)
    monkeypatch.setattr(locust_runners, "HEARTBEAT_LIVENESS", 3)
    locust_adapter.raise_heartbeat_liveness(workers.HEARTBEAT_LIVENESS)
    assert locust_runners.HEARTBEAT_LIVENESS == workers.HEARTBEAT_LIVENESS
    locust_adapter.raise_heartbeat_liveness(2)  # never lowered
    assert locust_runners.HEARTBEAT_LIVENESS == workers.HEARTBEAT_LIVENESS


def test_a_worker_can_send_its_report_out_of_cycle():
    assert _parameters(WorkerRunner._send_stats) == ["self"]
    source = inspect.getsource(WorkerRunner._send_stats)
    assert "report_to_master.fire" in source  # so shopstorm's deltas ride along
    assert 'Message("stats"' in source


def test_a_worker_answers_the_quit_message_with_a_final_report():
    source = inspect.getsource(WorkerRunner.handle_message)
    quit_case = source[source.index('case "quit"') :]
    assert quit_case.index("self.stop()") < quit_case.index("self._send_stats()")


def test_the_master_can_stop_and_message_chosen_workers():
    assert "send_stop_to_client" in _parameters(MasterRunner.stop)
    assert _parameters(Message) == ["message_type", "data", "node_id"]
    assert 'Message("quit", None, client.id)' in inspect.getsource(MasterRunner.quit)
    assert "server" in inspect.getsource(MasterRunner.__init__)


def test_the_master_quit_is_a_plain_method_that_can_be_wrapped():
    assert _parameters(MasterRunner.quit) == ["self"]
    assert not hasattr(MasterRunner, "__slots__")
    calls = []

    class Runner:
        def quit(self) -> None:
            calls.append("locust")

    runner = Runner()
    locust_adapter.run_before_quit(runner, lambda: calls.append("shopstorm"))  # type: ignore[arg-type]
    runner.quit()
    assert calls == ["shopstorm", "locust"]

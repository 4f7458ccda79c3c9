"""Journeys, shoppers and mixes: the public API for writing your own.

A *journey* is one shopper's path through a target, written as a method of a :class:`ShopstormUser` and marked
with :func:`journey`. It is a Locust task with a weight, timed end to end as a journey metric. A step that goes
wrong raises :class:`~shopstorm.replies.JourneyFailed`; the journey is then recorded as failed with that
reason (the failed request is already in the request statistics) and the shopper carries on with its next
journey. A journey that *expects* a refusal passes ``expect="refused"`` to the step: the refusal is its success.

A *mix* is the weighted set of journeys a shopper picks from, plus the think time between journeys.
:func:`apply_mix` narrows and re-weights a shopper class from the settings (``--journey``, ``--weight``,
``--think-time``)::

    class MyShopper(ShopstormUser):
        target_class = WebshopTarget
        think_time = (1, 3)

        @journey(weight=3)
        def browse(self):
            self.shop.find_item(random.choice(self.target.catalogue())[0])
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any, ClassVar

import gevent
from locust import between, constant, events
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from shopstorm.errors import UsageError
from shopstorm.metrics.arrivals import PACING
from shopstorm.metrics.journeys import journey_ended
from shopstorm.replies import JourneyFailed
from shopstorm.settings import Settings
from shopstorm.targets.base import Target

JOURNEY_MARK = "shopstorm_journey"
# Set by the engine when it is imported (shopstorm run, or a locustfile importing shopstorm.locust): its listeners
# seed the shop and give every shopper class its target.
ENGINE = {"loaded": False}
WITHOUT_ENGINE = (
    "shopstorm: this locustfile's shoppers run without shopstorm's engine (no seeding, no summary): import them "
    "from shopstorm.locust, e.g. `from shopstorm.locust import ShopstormUser, journey`, or add "
    "`import shopstorm.locust`"
)


@dataclass(frozen=True)
class JourneySpec:
    name: str
    weight: int
    description: str


def journey(weight: int = 1, *, name: str | None = None) -> Callable[[Callable], Callable]:
    """Mark a :class:`ShopstormUser` method as a journey with a default weight in the mix.

    Before the journey runs, the shopper claims its start from the run's pacing: in the open model it waits for
    the journey's intended start (and is timed from it too); with an iteration budget it takes a ticket; when
    the run has no journeys left for it, the shopper stops.
    """

    def decorate(method: Callable) -> Callable:
        journey_name = name or method.__name__

        @functools.wraps(method)
        def run(user: ShopstormUser) -> None:
            intended, started_wall = None, 0.0
            if PACING.paced:  # an open model or an iteration budget; otherwise nothing to claim
                start = PACING.next_start()
                if start is None:
                    raise StopUser
                if PACING.open_model:
                    intended = start
                    gevent.sleep(max(0.0, start - time.time()))
                    started_wall = time.time()
            # journey_timer's work, without an object per journey: this runs once per journey of every shopper
            started = perf_counter()
            try:
                method(user)
            except JourneyFailed as failed:  # the failed request is in Locust's statistics with its reason
                journey_ended(journey_name, started, failed, intended, started_wall)
            except BaseException as error:
                journey_ended(journey_name, started, error, intended, started_wall)
                raise
            else:
                journey_ended(journey_name, started, None, intended, started_wall)

        doc = (method.__doc__ or "").strip().splitlines()
        setattr(run, JOURNEY_MARK, JourneySpec(journey_name, weight, doc[0] if doc else ""))
        return run

    return decorate


def journeys_of(user_class: type) -> list[tuple[Callable, JourneySpec]]:
    """The journeys a shopper class defines (its own and inherited), in definition order."""
    found: dict[str, tuple[Callable, JourneySpec]] = {}
    for klass in reversed(user_class.__mro__):
        for attribute in vars(klass).values():
            spec = getattr(attribute, JOURNEY_MARK, None)
            if spec is not None:
                found[spec.name] = (attribute, spec)
    return list(found.values())


class ShopstormUser(FastHttpUser):
    """A shopper: a Locust ``FastHttpUser`` whose tasks are journeys against one target.

    ``target_class`` names the target; the engine creates one target per process, seeds it once (master or
    local process), and sets :attr:`target` on the class before the first shopper starts. Each shopper gets
    ``self.shop``, the target's client bound to its own HTTP session.
    """

    abstract = True
    target_class: ClassVar[type[Target]]
    target: ClassVar[Target]
    think_time: ClassVar[tuple[float, float]] = (1.0, 3.0)
    journey_weights: ClassVar[dict[str, int]] = {}  # re-weights inherited journeys in a subclass
    wait_time = between(1, 3)
    # Short enough that a stuck shop shows as failures within a run, long enough for a slow checkout.
    network_timeout = 30.0
    max_body = 1_000_000  # bytes of an answer read at most (the engine sets --max-body)
    connection_timeout = 10.0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.shop = self.target.shopper(self.client)


@dataclass(frozen=True)
class Mix:
    """Journeys with their weights, and the think time between journeys, in seconds."""

    weights: dict[str, int]
    think_time: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights), "think_time": list(self.think_time)}


def resolve_mix(user_class: type[ShopstormUser], settings: Settings) -> Mix:
    """The mix a run uses: the class's journeys and weights, narrowed and re-weighted by the settings."""
    available = {
        spec.name: user_class.journey_weights.get(spec.name, spec.weight) for _, spec in journeys_of(user_class)
    }
    for name in (*settings.journeys, *settings.weights):
        if name not in available:
            raise UsageError(
                f"unknown journey {name!r} for target {user_class.target_class.name} (journeys: {', '.join(available)})"
            )
    weights = {}
    for name, default_weight in available.items():
        if settings.journeys and name not in settings.journeys:
            continue
        weight = settings.weights.get(name, default_weight)
        if settings.journeys and name not in settings.weights:
            weight = max(weight, 1)  # a journey picked by name runs even if its default weight is 0
        if weight > 0:
            weights[name] = weight
    if not weights:
        raise UsageError("the mix has no journey with a weight above 0")
    return Mix(weights, settings.think_time or user_class.think_time)


def apply_mix(user_class: type[ShopstormUser], mix: Mix) -> None:
    """Set the class's Locust tasks and wait time from the mix (before any shopper starts)."""
    by_name = {spec.name: method for method, spec in journeys_of(user_class)}
    user_class.tasks = [by_name[name] for name, weight in mix.weights.items() for _ in range(weight)]
    low, high = mix.think_time
    user_class.wait_time = constant(low) if low == high else between(low, high)


@events.init.add_listener
def _refuse_shoppers_without_the_engine(environment: Any, **_: Any) -> None:
    """A plain ``locust -f`` locustfile that took its shoppers from :mod:`shopstorm.journeys` alone would run with
    no seed and no target: say how to load the engine, exit 2, before any load."""
    shoppers = [cls for cls in environment.user_classes if issubclass(cls, ShopstormUser)]
    if shoppers and not ENGINE["loaded"]:
        print(WITHOUT_ENGINE, file=sys.stderr, flush=True)
        sys.exit(UsageError.exit_code)

"""Journeys and mixes, and which shopper class each built-in target runs by default.

Public API for your own journeys: :class:`ShopstormUser`, :func:`journey`, :class:`JourneyFailed`,
:func:`journey_timer`.
"""

from shopstorm.errors import UsageError
from shopstorm.journeys.base import Mix, ShopstormUser, apply_mix, journey, journeys_of, resolve_mix
from shopstorm.metrics.journeys import journey_timer
from shopstorm.targets.base import JourneyFailed

__all__ = [
    "SHOPPERS",
    "JourneyFailed",
    "Mix",
    "ShopstormUser",
    "apply_mix",
    "journey",
    "journey_timer",
    "journeys_of",
    "resolve_mix",
    "shopper_for",
]


def _builtin_shoppers() -> dict[str, type[ShopstormUser]]:
    from shopstorm.journeys.webshop import WebshopStressShopper

    return {"webshop": WebshopStressShopper}


SHOPPERS: dict[str, type[ShopstormUser]] = _builtin_shoppers()


def shopper_for(target_name: str) -> type[ShopstormUser]:
    """The default shopper class (its journeys are the target's mix) of a built-in target."""
    try:
        return SHOPPERS[target_name]
    except KeyError:
        raise UsageError(f"unknown target {target_name!r} (targets: {', '.join(SHOPPERS)})") from None

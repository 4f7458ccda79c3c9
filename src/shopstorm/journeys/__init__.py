"""Journeys and mixes, and which shopper class each built-in target runs by default.

The journey API (:class:`ShopstormUser`, :func:`journey`, :class:`JourneyFailed`, :func:`journey_timer`); your own
locustfile imports it from :mod:`shopstorm.locust`, which loads the engine too.
"""

from shopstorm.errors import UsageError
from shopstorm.journeys.base import Mix, ShopstormUser, apply_mix, journey, journeys_of, resolve_mix
from shopstorm.journeys.checkout_api import CheckoutFlowShopper, CheckoutPaymentsShopper, PolarCheckoutUser
from shopstorm.journeys.storefront import StorefrontReturningUser, StorefrontVisitor
from shopstorm.journeys.webshop import WebshopConsistencyShopper, WebshopStressShopper
from shopstorm.metrics.journeys import journey_timer
from shopstorm.replies import JourneyFailed

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
    "shoppers_for",
]


Shoppers = tuple[type[ShopstormUser], ...]


def _builtin_shoppers() -> dict[str, dict[str, Shoppers]]:
    return {
        "webshop": {"stress": (WebshopStressShopper,), "consistency": (WebshopConsistencyShopper,)},
        "storefront": {"funnel": (StorefrontVisitor, StorefrontReturningUser)},
        "checkout-api": {
            "flow": (CheckoutFlowShopper,),
            "polar": (PolarCheckoutUser,),
            "payments": (CheckoutPaymentsShopper,),
        },
    }


# target name → mix name → its shopper classes (Locust weighs them by their `weight`); the first mix is the default.
SHOPPERS: dict[str, dict[str, Shoppers]] = _builtin_shoppers()


def shoppers_for(target_name: str, mix: str | None = None) -> Shoppers:
    """The shopper classes (their journeys are the mix) of a built-in target's mix, or of its default mix."""
    mixes = SHOPPERS.get(target_name)
    if mixes is None:
        raise UsageError(f"unknown target {target_name!r} (targets: {', '.join(SHOPPERS)})")
    if mix is None:
        return next(iter(mixes.values()))
    if mix not in mixes:
        raise UsageError(f"unknown mix {mix!r} for target {target_name} (mixes: {', '.join(mixes)})")
    return mixes[mix]

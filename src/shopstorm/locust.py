"""What your own locustfile imports to run with plain ``locust -f``.

The journey API (:class:`ShopstormUser`, :func:`journey`, :class:`JourneyFailed`, :func:`journey_timer`), and, by
importing this module, shopstorm's engine: its Locust listeners (seeding, HDR measurements, the ledger, the audit,
summary.json and the exit code). The journeys themselves do not load the engine (they sit below it); a locustfile
whose shoppers come from :mod:`shopstorm.journeys` without this import is refused at Locust's ``init``, with this
module named, rather than run without its summary::

    from shopstorm.locust import ShopstormUser, journey
    from shopstorm.targets.webshop import WebshopTarget
"""

from shopstorm.engine import plugin as _engine  # noqa: F401 - importing it registers the engine's listeners
from shopstorm.journeys import JourneyFailed, ShopstormUser, journey, journey_timer

__all__ = ["JourneyFailed", "ShopstormUser", "journey", "journey_timer"]

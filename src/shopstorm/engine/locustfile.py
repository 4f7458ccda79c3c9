"""The locustfile ``shopstorm run`` hands to Locust: the selected target's shopper class, plus the plugin.

Locust imports this file in every process of the run (before ``--processes`` forks; workers on other machines
run ``shopstorm run … --worker`` and import it too). It exposes exactly one User class, the target's shopper; the
plugin applies the mix and seeds at Locust's ``init`` event.
"""

from shopstorm.engine import plugin
from shopstorm.journeys import shopper_for


def _expose_shopper() -> None:
    # Locust collects every User class among this module's globals: expose the one shopper, once, by name.
    target_name, settings = plugin.run_request()
    shopper = shopper_for(target_name or "webshop", settings.mix)
    globals()[shopper.__name__] = shopper


_expose_shopper()

"""The locustfile ``shopstorm run`` hands to Locust: the selected target's shopper class, plus the plugin.

Locust imports this file in every process of the run (before ``--processes`` forks; workers on other machines
run ``shopstorm run … --worker`` and import it too). It exposes the User classes of the selected mix; the
plugin applies the mix and seeds at Locust's ``init`` event.
"""

from shopstorm.engine import plugin  # noqa: F401 - importing it registers the listeners
from shopstorm.engine.run_state import run_request
from shopstorm.journeys import shoppers_for


def _expose_shoppers() -> None:
    # Locust collects every User class among this module's globals: expose the mix's shoppers, once, by name.
    target_name, settings = run_request()
    for shopper in shoppers_for(target_name or "webshop", settings.mix):
        globals()[shopper.__name__] = shopper


_expose_shoppers()

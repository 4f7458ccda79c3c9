"""shopstorm: load and consistency testing for online shops and payment flows, built on Locust.

This top-level module stays import-light on purpose: the demo shop (``shopstorm.demoshop``) runs in its own
asyncio process and must not pull in Locust, whose import monkey-patches the standard library for gevent.
The public journey API lives in :mod:`shopstorm.journeys`.
"""

__version__ = "0.1.0"

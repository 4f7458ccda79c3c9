"""Locust glue: the locustfile shopstorm hands to Locust, the plugin that hangs shopstorm on Locust's events and the
modules it calls (seeding, load, transport, workers, reporting, signals), the one adapter to Locust's internals,
the live view, launching."""

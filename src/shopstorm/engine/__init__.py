"""Locust glue: the locustfile shopstorm hands to Locust, the plugin's event listeners, the live view, launching."""

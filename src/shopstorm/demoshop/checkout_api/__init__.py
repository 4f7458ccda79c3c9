"""The checkout API face: a ``/v1`` API of products, client checkouts, orders and webhooks, standing in for Polar's
checkout API, with Stripe's payment events coming in and Standard Webhooks going out.
"""

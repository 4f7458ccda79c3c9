"""The webshop face: ``/stock``, ``/payment`` and ``/orders``, standing in for the course webshop API.

The course's reference implementation is three Flask services on Redis behind nginx; this face answers as it does
(or in plain JSON) over the demo shop's store.
"""

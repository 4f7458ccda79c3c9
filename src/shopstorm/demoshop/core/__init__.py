"""The demo shop's core, shared by every API face: the store, the job queue, faults, errors, request limits, auth.

Nothing here knows a face's routes or answers; a face (``webshop``, ``storefront``, ``checkout_api``) is a package
beside this one that builds on it, and :mod:`shopstorm.demoshop.app` mounts the faces side by side.
"""

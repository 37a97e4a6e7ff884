"""The shop's infrastructure: settings, storage, the event bus, limits and the server loop.

Nothing here knows about books, carts or HTTP handlers; the domain modules
above build on it.
"""

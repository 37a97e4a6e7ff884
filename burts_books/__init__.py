"""Burt's Books: an online bookstore on Tornado, MongoDB and Redis."""

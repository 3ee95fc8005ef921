"""The HTTP edge: Blueprints that parse a request, call one domain function and answer.

Nothing is imported here on purpose: ``app.py`` registers the route modules it wants, and a
handler that serves only some routes imports only those.
"""

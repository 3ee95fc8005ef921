"""The HTTP edge: Blueprints that parse a request, call one domain function and answer."""

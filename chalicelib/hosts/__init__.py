"""The host protocol: the poll, the deploy script a host fetches, and its reports."""

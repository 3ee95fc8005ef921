"""fabu-cli: the ``fabu`` command, a signed client of the fabu API."""

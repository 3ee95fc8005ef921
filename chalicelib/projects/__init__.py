"""The project service: validation of project bodies and their storage."""

"""Projects: the operator's settings, validated (``validation`` and its sections) and stored
(``service``, ``store``, ``scheduled``), shown with their secrets redacted (``view``, ``redaction``)."""

"""The host protocol's small front, ``HostFront`` (its Lambda Function URL, and on AWS the REST
API's four host routes too), and the chalice-free rules both HTTP fronts share: request inputs
(``inputs``), who may call a host route (``identity``) and the answer to every error
(``failures``). ``handler`` is HostFront's Lambda handler; ``payloads`` reads its two event
formats."""

"""The host protocol's second front (a Lambda Function URL) and the chalice-free rules that both
fronts share: request inputs (``inputs``), who may call a host route (``identity``) and the answer
to every error (``failures``). ``handler`` is the Function URL's Lambda handler."""

"""The audit log: every admin action of the stage, across projects, queryable and exported daily.

``model`` is the ``audit`` table; ``log`` decides what is an admin action and writes its entry
(in the same DynamoDB transaction as the action's event: ``chalicelib.events.record``);
``query`` answers ``GET /api/v1/audit``; ``export`` writes one UTC day as JSON lines to S3.
Nothing is imported here, so ``chalicelib.models`` can import ``model`` without a circle.
"""

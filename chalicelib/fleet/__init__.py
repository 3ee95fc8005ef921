"""Fleet membership: projects whose hosts are EC2 instances found by tags or Auto Scaling groups.

``selectors`` (the ``fleet`` setting's rules and keys), ``sweep`` (the paged Describe calls),
``memberset`` (each project's last synced members), ``joins`` (what a joining or leaving host's
item becomes), ``sync`` (the tick's per-tick sync). See ``docs/fleets.md``.
"""

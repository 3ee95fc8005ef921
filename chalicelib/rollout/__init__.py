"""The rollout engine: wave plans, the tick, locking, rollback, controls and gates."""

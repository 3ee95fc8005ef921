"""fabu: the serverless release platform's logic (everything app.py wires)."""

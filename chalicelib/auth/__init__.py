"""Who is calling: SigV4 verification (stage ``local``), principals, and authorization."""

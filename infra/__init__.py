"""fabu's AWS resources as code (``resources.json``) and the tooling of the local stack."""

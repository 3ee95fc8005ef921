"""Releases and their tarballs: records, sources, packaging, the build worker, the CI upload."""

"""Releases and their tarballs: sources, packaging, the build worker, the CI upload."""

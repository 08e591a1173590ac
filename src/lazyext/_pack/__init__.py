"""Packing a warmed cache into an archive and unpacking one into another cache."""

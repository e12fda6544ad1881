"""Many clones, one numbering: claim engines, the claim protocol, pointers (docs/reference/claims.md)."""

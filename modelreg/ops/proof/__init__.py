"""Proof: model files safe to load, signed versions, signed approvals."""

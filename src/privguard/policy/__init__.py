"""Roles, purposes and the decisions made at the vault's gate."""

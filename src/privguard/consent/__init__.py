"""Consent: privacy notices and their versions, the consent ledger, preferences."""

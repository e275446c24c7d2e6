"""Sharing: recipients, agreements, transfers, de-identified datasets, waybills, relays."""

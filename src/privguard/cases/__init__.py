"""Complaints and reports, merchant supervision, access anomalies and security incidents."""

"""Compliance reports: records of processing, impact assessments, the requirement checklist and
the deployment self-check (``privguard report``, ``privguard doctor``; docs/reports.md)."""

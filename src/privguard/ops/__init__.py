"""Running privguard as a service: metrics, structured logs, rate limits (docs/operations.md).

Nothing here touches personal information: metric labels are route templates, status codes,
policy rule names and views; log lines pass through the PI redactor before they are written.
"""

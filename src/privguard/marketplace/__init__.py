"""The platform's business records that privguard needs to know: organisations and orders.

Orders carry no plaintext PI, only the subject's id; their details live in the vault.
"""

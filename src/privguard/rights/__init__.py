"""Data-subject rights: requests, identity verification, deadlines, retention."""

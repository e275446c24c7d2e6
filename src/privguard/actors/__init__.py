"""Actors (people and services with a role) and the API keys they authenticate with."""

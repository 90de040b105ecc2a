"""Voco's services: each owns its data and speaks only through contracts/ on NATS."""

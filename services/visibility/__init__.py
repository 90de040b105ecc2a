"""Visibility: policies, contact requests, allowed and blocked lists, filtered fan-out."""

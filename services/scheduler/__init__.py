"""The scheduler: switches presence profiles by weekly rules, holidays and overrides."""

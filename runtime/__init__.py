"""The event-sourcing runtime every Voco service shares: one of each mechanism."""

"""The presence service: statuses, notes, presence profiles, devices and automation."""

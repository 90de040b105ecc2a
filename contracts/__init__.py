"""The language Voco's services speak: events, commands, subjects, schema versions."""

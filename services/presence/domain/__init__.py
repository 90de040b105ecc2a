"""Pure presence logic: states, deciders and their rules. No I/O, no clock, no ids."""

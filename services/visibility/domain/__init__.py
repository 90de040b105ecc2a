"""The pure visibility decider: state, evolve, decide. No I/O, clock or ids."""

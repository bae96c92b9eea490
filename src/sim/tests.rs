//! Unit tests for the simulator engine.

"""The emulator's control plane: faults on demand, introspection, engagement and feedback events."""

"""pytest plugin giving tests a running Mailgun emulator (fixtures land with the emulator)."""

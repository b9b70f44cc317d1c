"""Local Mailgun + Maton emulator for demos and tests (work in progress)."""

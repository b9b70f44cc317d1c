"""Tests of the bundled Mailgun + Maton emulator (real HTTP against 127.0.0.1)."""

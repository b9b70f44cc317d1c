"""Thin typed methods per Mailgun resource; each is one request (or one lazy pager) through the transport."""

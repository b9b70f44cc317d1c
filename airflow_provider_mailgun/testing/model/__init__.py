"""The emulator's state: domains, stored messages and their events, lists, suppressions,
templates, and the webhook posts that follow events."""

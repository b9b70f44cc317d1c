"""Behind the webhook receiver plugin: its FastAPI app, and recording a webhook as an asset event
once. Private."""

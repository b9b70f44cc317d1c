"""Mailgun's documented sending limits, in one place (import-free, safe for any module to use).

Sources: Mailgun's API reference and help pages (see the project's research notes).
"""

from datetime import timedelta

#: Recipients per send request, counting to, cc and bcc.
MAX_RECIPIENTS_PER_REQUEST = 1000
#: Tags per message (raised from 3 to 10 in 2025); each ASCII, at most 128 characters.
MAX_TAGS = 10
MAX_TAG_LENGTH = 128
#: All o:, h:, v: and t: fields of one send together.
MAX_OPTIONS_BYTES = 16 * 1024
#: A message with its attachments.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
#: How far ahead o:deliverytime may be (7 days on plans with 7-day storage, less on others).
MAX_DELIVERY_AHEAD = timedelta(days=7)
#: How old a page of events must be before it can be trusted complete (Mailgun's advice: 30 min).
DEFAULT_SETTLE_SECONDS = 30 * 60.0

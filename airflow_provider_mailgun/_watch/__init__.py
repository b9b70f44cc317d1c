"""Behind ``MailgunEventTrigger``: the window of reported events, where it is kept, where events
are read from, and the payload of one batch. Private."""

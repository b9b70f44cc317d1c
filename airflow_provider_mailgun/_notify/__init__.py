"""Behind ``MailgunNotifier`` and the email backend: one message composed and checked, and the
default alert content. Private."""

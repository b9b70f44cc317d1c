"""Behind ``MailgunClearBouncesOperator``: the matching rules and input checks. Private."""

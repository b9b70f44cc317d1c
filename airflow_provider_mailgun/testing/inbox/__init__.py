"""The web inbox: messages as recipients see them, lists and suppression tables, in the browser."""

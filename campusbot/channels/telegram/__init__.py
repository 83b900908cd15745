"""campusbot on Telegram (python-telegram-bot)."""

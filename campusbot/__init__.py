"""campusbot: a learning assistant for municipal employees on Matrix and Telegram."""

__version__ = "0.1.0"

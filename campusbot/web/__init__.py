"""The bot's small web server: certificate verification, health and metrics."""

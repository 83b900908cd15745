"""Matrix transport: the bot on Matrix via matrix-nio, end-to-end encrypted."""

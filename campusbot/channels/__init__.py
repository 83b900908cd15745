"""Transports: each renders the core's channel-neutral messages in its network's idiom."""

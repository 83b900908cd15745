"""The channel-neutral core: dialog engine and services. Imports no transport, ORM or scheduler."""

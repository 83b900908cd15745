"""The scheduler: periodic jobs that hand due work to the core."""

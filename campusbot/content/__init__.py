"""Content: the typed, validated catalogue of frameworks, roles and modules."""

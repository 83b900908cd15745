"""Participation confirmations and certificates: PDF, Open Badges 3.0 credential, verification."""

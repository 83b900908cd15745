"""Notices for the municipality's HR: what a learner completed, and overdue mandatory trainings."""

"""Approvals: who may approve a stage, the gates the workflow waits on, the decisions, and the watch on open gates."""

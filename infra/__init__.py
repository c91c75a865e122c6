"""The CDK app's constructs and the workflow definitions (ASL)."""

"""eksd-adopt: adopt Amazon EKS Distro releases safely (domain package shared by CLI, Lambdas and tests)."""

__version__ = "0.1.0"

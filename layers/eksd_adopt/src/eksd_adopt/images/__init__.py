"""The image mirror: our own OCI distribution client, the image copier, ECR's control plane and one image job."""

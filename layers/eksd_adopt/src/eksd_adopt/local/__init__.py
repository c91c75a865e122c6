"""Local stand-ins for the outside world (registries, CDN, AWS, upstream) used by the demo, tests and benchmarks."""

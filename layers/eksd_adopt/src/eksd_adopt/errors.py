"""Domain errors: the contract between the domain code, handlers, the CLI and the workflow's Retry/Catch."""


class EksdAdoptError(Exception):
    """Base of every error the domain raises on purpose."""


class ManifestError(EksdAdoptError):
    """A release manifest cannot be read (I/O, size, YAML syntax) or is invalid."""


class NotificationError(EksdAdoptError):
    """An upstream notification cannot be understood or comes from the wrong topic."""


class FetchError(EksdAdoptError):
    """An upstream fetch failed or was refused (host not allowed, not HTTPS, too large)."""


class UpstreamNotFoundError(FetchError):
    """Upstream answered 403/404: the CDN may lag a notification, so callers may retry later."""

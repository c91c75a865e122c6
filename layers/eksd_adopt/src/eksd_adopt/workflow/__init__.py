"""The adoption workflow's steps as domain functions (the Lambda handlers only parse and call these)."""

"""Memory: the markdown files the user owns, what of them goes into a prompt, and learning."""

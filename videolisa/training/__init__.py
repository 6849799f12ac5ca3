"""Training VideoLISA: losses, examples built from conversations and their configuration."""

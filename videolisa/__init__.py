"""VideoLISA chat: answer questions about a video and segment what they point at, on every frame."""

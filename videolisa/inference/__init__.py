"""Running a loaded model: encode a video once, answer questions, decode masks."""

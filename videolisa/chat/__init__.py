"""Chat prompts: templates, history and its limits. Knows nothing of Gradio or tensors."""

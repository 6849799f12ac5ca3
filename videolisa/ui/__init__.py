"""The chat app's pieces below its Gradio wiring (``app.py``): how turns are shown, the chat's
state, the examples, the app's folder. Gradio-free; the top layer of the package."""

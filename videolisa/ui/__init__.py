"""The chat app's pieces below its components and wiring (``app.py``): how turns are shown, the
chat's state, the examples, the app's folder (Gradio-free), and the handlers of the page's events
and of the API endpoints (``chat_events.py``, ``api.py``, which use Gradio's types). The top layer
of the package."""

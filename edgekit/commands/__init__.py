"""The ``edgekit`` sub-commands, one module per stage; ``edgekit.cli`` lists them on the root app.

Each module imports only Typer and Rich at the top: the libraries a command drives are imported
inside it, so ``edgekit --help`` starts without loading scikit-learn, ONNX or the server.
"""

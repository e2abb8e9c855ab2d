"""Start the chat UI: ``python app.py [--host HOST] [--port PORT] [--share]`` (= ``rag serve``)."""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))

"""``python -m rag``: the same CLI as the ``rag`` console script."""

from rag.cli import main

if __name__ == "__main__":  # parse workers (forkserver) import the main module again
    raise SystemExit(main())

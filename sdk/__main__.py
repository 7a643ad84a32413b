"""`python -m cimsdk ...` is the `cimsdk` command."""

from cimsdk.cli import main

if __name__ == "__main__":
    main()

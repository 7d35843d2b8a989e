"""The typed user script is checked by pyright and mypy (tests/test_typing.py), not imported."""

collect_ignore = ["user_script.py"]

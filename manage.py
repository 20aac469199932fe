#!/usr/bin/env python
"""Django's command-line utility for the governance platform."""

import os
import sys

# Commands that touch neither the database nor the broker; they start no embedded service, so they
# run in a second on a fresh clone (`embedded_services` starts and stops them itself).
NO_SERVICE_COMMANDS = frozenset(
    {"check", "makemigrations", "help", "version", "embedded_services", "collectstatic", "spectacular"}
)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command in NO_SERVICE_COMMANDS or command.startswith("-"):
        # No connection pool: with the database down (a fresh clone) makemigrations' history check
        # fails at once instead of waiting DB_POOL_TIMEOUT for a pooled connection.
        os.environ.setdefault("DB_POOL_MAX_SIZE", "0")
    else:
        from governance import embedded

        embedded.start_services()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

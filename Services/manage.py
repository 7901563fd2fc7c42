#!/usr/bin/env python
"""Django's command-line utility for Services."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "services_project.settings")
    if len(sys.argv) > 2 and sys.argv[1] == "convert_to_parquet":
        # the source's sha256 starts on the second core before Django loads (see conversion/hashes.py)
        from services_app.capabilities.conversion.cli import prefetch_source_hash

        prefetch_source_hash(sys.argv[2:])
        from services_app.management.commands.convert_to_parquet import run_from_manage_py

        if not any(a.startswith(("--settings", "--pythonpath")) for a in sys.argv[2:]):
            run_from_manage_py(sys.argv)  # without the app registry: see there
            return
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

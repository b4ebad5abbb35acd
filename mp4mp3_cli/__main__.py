"""Entry point of the ``mp4mp3`` console script and of ``python -m mp4mp3_cli``."""

from __future__ import annotations

from mp4mp3_cli.app import app


def main() -> None:
    app(prog_name="mp4mp3")


if __name__ == "__main__":
    main()

"""The ``mp4mp3`` commands, a module per group: accounts, conversions, jobs. ``running.py`` holds
what every command shares (the --api/--config-dir/--json options, how failures leave)."""

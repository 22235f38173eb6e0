"""The subcommands of ``openclarify``; each module has ``register(subparsers)`` and a handler."""

from openclarify.commands import demo, invoke, precheck, resources, serve

SUBCOMMANDS = (serve, demo, resources, invoke, precheck)

"""The measuring commands (eval, bench, loadtest): they use the engine and the bot, never the CLI."""

"""aiohttp endpoints served by the bot's process: health, unsubscribe, confirm, webhook..."""

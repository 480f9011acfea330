"""aiogram side: routers, keyboards, callback data and middlewares. Thin: parse, call a service."""

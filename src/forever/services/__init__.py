"""Use cases. They talk to the outside (Telegram, SMTP) through the ports in `ports.py`."""

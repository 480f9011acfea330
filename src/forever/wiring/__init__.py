"""The composition root, split by area: `container` holds what every area shares; each other
module builds one area's use cases and names what its chat handlers receive. `app.py`
assembles them. Entry layer: nothing below imports from here."""

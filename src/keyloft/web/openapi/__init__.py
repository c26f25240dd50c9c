"""The OpenAPI document: what each operation answers (``answers``) and the document built
from the routes, with its security schemes and links (``document``)."""

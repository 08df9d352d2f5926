"""peluit-verify: checks a Peluit audit bundle offline (see ``cli.py``)."""

"""What the settings of both Django services share: the typed environment reader (`env`) and the
base settings (`base`). Only the two `settings.py` modules import it; see docs/settings.md."""

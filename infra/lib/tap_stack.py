"""TapStack: the vidpipe platform as one stack, composed from the units in infra/vidpipe_infra/.

This is the documented entry class (the seed contract); it adds nothing of its own, so the units stay
the one place each resource is defined. `infra/tap.py` builds the app around it.
"""

from __future__ import annotations

from vidpipe_infra.stack import VidpipeStack


class TapStack(VidpipeStack):
    """Keyword arguments: suffix (environmentSuffix), profile, image_tag, start_tasks; see VidpipeStack."""


__all__ = ["TapStack"]

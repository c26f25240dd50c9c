"""The direct lane: the hot routes (token minting, the decision point, introspection and the
management reads) answered in front of the framework's routing and middleware.

``marker.direct`` marks a route where it is declared; ``table`` builds and checks the lane's
table when the app is created; ``dispatch`` answers from it; ``body``, ``query`` and ``form``
read a marked endpoint's input as the framework would have.
"""

from keyloft.web.lane.dispatch import DirectLane
from keyloft.web.lane.marker import direct, is_direct
from keyloft.web.lane.table import LaneDeclarationError, LaneTable

__all__ = ["DirectLane", "LaneDeclarationError", "LaneTable", "direct", "is_direct"]

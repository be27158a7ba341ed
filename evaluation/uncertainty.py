"""Active learning's selection, kept in the core (xinfang.uncertainty) so the review page can use it too."""

from xinfang.uncertainty import RARE_SHARE, decision_margins, rare_predictions, select_uncertain

__all__ = ["RARE_SHARE", "decision_margins", "rare_predictions", "select_uncertain"]

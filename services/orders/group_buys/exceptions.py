from __future__ import annotations

from services.common.errors import InvalidInput, NotFound


class GroupBuyNotFound(NotFound):
    code = "GROUP_BUY_NOT_FOUND"
    title = "No such group-buy"


class InvalidGroupBuy(InvalidInput):
    code = "INVALID_GROUP_BUY"
    title = "The group-buy's items, dates or limits do not fit together"


class LeaderOrRegionRequired(InvalidInput):
    code = "LEADER_OR_REGION_REQUIRED"
    title = "Name your community's leader (leader_id) or a region to see its group-buys"

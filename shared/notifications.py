"""A person's unread notification count: the user service's inbox answers it, and the chat
service's live stream puts it in its snapshot."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select

from shared.models import Notification, User
from shared.pagination import AnySelect


def unread_statement(
    *, user_id: int | ColumnElement[int], cap: int | ColumnElement[int]
) -> AnySelect:
    """How many notifications are above the read mark (`users.notifications_read_id`),
    counting at most `cap` of them (an index-only range scan of
    `ix_notifications_user_id_id` that stops there, however many there are). The values
    may be bound parameters, for a statement built once."""
    read_id = select(User.notifications_read_id).where(User.id == user_id).scalar_subquery()
    above = (
        select(Notification.id)
        .where(Notification.user_id == user_id, Notification.id > read_id)
        .limit(cap)
        .subquery("above")
    )
    return select(func.count()).select_from(above)

"""Notifications (in-app, email, push, webhooks) and the realtime WebSocket channel (issue 16): a nested stack
of their own (:mod:`crewhouse_cdk.nested`)."""

from __future__ import annotations

from crewhouse_cdk.constructs.notifications import NotificationsContext
from crewhouse_cdk.constructs.realtime import RealtimeContext
from crewhouse_cdk.nested import ContextStack


class NotificationsStack(ContextStack):
    description_text = "Crewhouse: notifications and live updates"

    def _contexts(self) -> None:
        """The contexts of this stack, in dependency order."""
        self.realtime = RealtimeContext(self, "Realtime", shared=self.shared)
        self.notifications = NotificationsContext(self, "Notifications", shared=self.shared)

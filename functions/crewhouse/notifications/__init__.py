"""Notifications (issue 16): in-app notifications with a delivery history per channel, email through SES v2,
sending by admins and machine clients (now, at a time, or recurring), sandboxed Liquid templates per locale,
and per-user preferences with quiet hours. Consumers of the bus's job and task events live in ``workers``."""

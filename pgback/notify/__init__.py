"""Notifications about runs, one module per channel (webhook, ping), one dispatch.

A channel has a `name` and `send(event, timeout) -> bool`; `CHANNELS` builds the ones the
settings ask for. The Notifier never raises: a broken notification must never fail a backup,
so a failed delivery is a warning in the log (and False in the result).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from pgback.config import Settings
from pgback.notify.event import FAILURE, START, SUCCESS, Event
from pgback.notify.ping import PingChannel
from pgback.notify.webhook import WebhookChannel

log = logging.getLogger("pgback.notify")


class Channel(Protocol):
    name: str

    def send(self, event: Event, timeout: float | None = None) -> bool: ...


def _webhook(settings: Settings) -> Channel | None:
    return WebhookChannel(settings.webhook_url) if settings.webhook_url else None


def _ping(settings: Settings) -> Channel | None:
    if not settings.ping_url:
        return None
    return PingChannel(settings.ping_url.reveal(), settings.ping_method, settings.ping_style)


# one factory per channel: it returns the channel when the settings ask for it
CHANNELS: list[Callable[[Settings], Channel | None]] = [_webhook, _ping]


class Notifier:
    def __init__(self, channels: list[Channel]) -> None:
        self.channels = channels

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        return cls([c for factory in CHANNELS if (c := factory(settings)) is not None])

    def notify(self, event: Event, timeout: float | None = None) -> dict[str, bool]:
        """Send to every channel; {channel name: delivered}."""
        results: dict[str, bool] = {}
        for channel in self.channels:
            try:
                results[channel.name] = channel.send(event, timeout)
            except Exception as exc:  # a channel's bug must not stop the others or the run
                log.warning("%s notification failed: %s: %s", channel.name, type(exc).__name__, exc)
                results[channel.name] = False
        return results


__all__ = ["CHANNELS", "FAILURE", "START", "SUCCESS", "Channel", "Event", "Notifier"]

"""When each client was last used (a token minted for it), and each admin or Till last logged
in (Basic or console), to the minute.

Minting and logging in must not write to the database, so uses are noted in memory and written
in batches: one statement per client (or principal) since the last flush, whatever the number
of tokens or calls. The node also remembers the latest use it noted per client after writing
it (a bounded number of clients), so a client read from the node's cache never shows an older
use than the node made.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from datetime import datetime

from keyloft.domain.clients import Client
from keyloft.services.usage_counts import UsageCounts

REMEMBERED = 100_000


def to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class UsageLog:
    """A node's uses not yet written; the latest minute per client."""

    def __init__(self, *, remembered: int = REMEMBERED) -> None:
        self._pending: dict[int, datetime] = {}
        # (client id, credential) -> minute, for clients with several credentials (keys,
        # federated rules): which of them minted last.
        self._credentials: dict[tuple[int, str], datetime] = {}
        self._latest: OrderedDict[int, datetime] = OrderedDict()
        self._remembered = remembered
        # client id -> (a client as read, the use it was given, the client with that use):
        # a list answered from the node's copies gives the same copy on every call.
        self._overlaid: dict[int, tuple[Client, datetime, Client]] = {}
        self._logins: dict[int, datetime] = {}  # principal id -> minute
        self.counts = UsageCounts()
        """Tokens, failures and decisions per client and hour, written with the uses."""

    def note_login(self, principal_id: int, at: datetime) -> None:
        """A successful login of an admin or Till (its ``lastLoginOn``)."""
        minute = to_minute(at)
        known = self._logins.get(principal_id)
        if known is None or known < minute:
            self._logins[principal_id] = minute

    def take_logins(self) -> dict[int, datetime]:
        batch, self._logins = self._logins, {}
        return batch

    def note(self, client_id: int, at: datetime) -> None:
        minute = to_minute(at)
        known = self._pending.get(client_id)
        if known is None or known < minute:
            self._pending[client_id] = minute
            latest = self._latest.get(client_id)
            if latest is None or latest < minute:
                self._latest[client_id] = minute
                self._latest.move_to_end(client_id)
                if len(self._latest) > self._remembered:
                    forgotten, _ = self._latest.popitem(last=False)
                    self._overlaid.pop(forgotten, None)

    def note_credential(self, client_id: int, credential: str, at: datetime) -> None:
        """A use of one of the client's credentials, to the millisecond (not the minute: two
        credentials used within a minute must still tell which was last)."""
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        known = self._credentials.get((client_id, credential))
        if known is None or known < at:
            self._credentials[(client_id, credential)] = at

    def pending_credentials(self, client_id: int) -> dict[str, datetime]:
        """The credential uses of a client noted here and not yet written."""
        return {
            credential: at
            for (owner, credential), at in self._credentials.items()
            if owner == client_id
        }

    def take_credentials(self) -> dict[tuple[int, str], datetime]:
        batch, self._credentials = self._credentials, {}
        return batch

    def pending(self, client_id: int) -> datetime | None:
        return self._pending.get(client_id)

    def latest(self, client_id: int) -> datetime | None:
        """The latest use this node noted, written or not (unless long forgotten)."""
        return self._latest.get(client_id)

    def with_latest_use(self, client: Client) -> Client:
        """``client`` with the latest use this node noted, when that is later than its own."""
        noted = self.latest(client.id)
        if noted is None or (client.last_used_on is not None and client.last_used_on >= noted):
            return client
        held = self._overlaid.get(client.id)
        if held is not None and held[0] is client and held[1] == noted:
            return held[2]
        used = replace(client, last_used_on=noted)
        self._overlaid[client.id] = (client, noted, used)
        return used

    def __len__(self) -> int:
        return len(self._pending)

    def take(self) -> dict[int, datetime]:
        """Everything noted so far, forgotten here: the caller writes it, or gives it back."""
        batch, self._pending = self._pending, {}
        return batch

    def give_back(
        self,
        batch: dict[int, datetime],
        credentials: dict[tuple[int, str], datetime] | None = None,
        logins: dict[int, datetime] | None = None,
    ) -> None:
        """A batch whose write failed, kept for the next flush (later uses win)."""
        for client_id, minute in batch.items():
            self.note(client_id, minute)
        for (client_id, credential), minute in (credentials or {}).items():
            self.note_credential(client_id, credential, minute)
        for principal_id, minute in (logins or {}).items():
            self.note_login(principal_id, minute)

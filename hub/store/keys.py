"""Every Redis key the hub uses, in one place.

Keys of one platform share the hash tag ``{p:<id>}`` so that they live in one Redis Cluster
slot and may be changed in one transaction. The hub-wide indexes (who owns a token, which
platform serves a party) share the tag ``{hub}``, so that they too can change atomically.
"""

from __future__ import annotations

PREFIX = "ocpi-hub"
_HUB = f"{PREFIX}:{{hub}}"


def _platform(platform_id: str) -> str:
    return f"{PREFIX}:{{p:{platform_id}}}"


# --- hub-wide indexes ({hub} slot) --------------------------------------------------------


def platform_ids() -> str:
    """Set of every platform id."""
    return f"{_HUB}:platforms"


def token_index() -> str:
    """Hash: sha256(token) -> "<platform id> <kind>" for every token a platform may call with."""
    return f"{_HUB}:tokens"


def party_index() -> str:
    """Hash: "<country_code>:<party_id>:<role>" -> platform id, for every granted role."""
    return f"{_HUB}:parties"


def party_field(country_code: str, party_id: str, role: str) -> str:
    # CiString: parties are case-insensitive, so the index keeps one spelling.
    return f"{country_code.upper()}:{party_id.upper()}:{role.upper()}"


def changes() -> str:
    """Pub/sub channel: a platform, token or role changed; processes reload their cache."""
    return f"{_HUB}:changes"


def agreements() -> str:
    """Hash: agreement id -> the agreement's JSON."""
    return f"{_HUB}:agreements"


def agreement_pairs() -> str:
    """Hash: "<cpo>|<partner>|<modules>" -> agreement id: one agreement per pair and modules."""
    return f"{_HUB}:agreement-pairs"


def agreement_changes() -> str:
    """Pub/sub channel: an agreement was added or removed; processes reload their copy."""
    return f"{_HUB}:agreement-changes"


def announcements() -> str:
    """Sorted set: platform id -> when (Redis's clock, epoch milliseconds) its status change is
    due to be announced through HubClientInfo; taking one pushes its score forward (a lease)."""
    return f"{_HUB}:announcements"


def announcement_marks() -> str:
    """Hash: platform id -> number (from ``announcement_counter``) of its latest status change
    not yet announced."""
    return f"{_HUB}:announcement-marks"


def announcement_listings() -> str:
    """Hash: platform id -> number of the latest change after which it is owed the whole list
    of parties (it connected, and not by coming back from OFFLINE)."""
    return f"{_HUB}:announcement-listings"


def announcement_counter() -> str:
    """Counter: the number of the last status change marked for announcement (never reset, so
    that a number names one change for good)."""
    return f"{_HUB}:announcement-counter"


# --- one platform ({p:<id>} slot) ---------------------------------------------------------


def platform(platform_id: str) -> str:
    """String: the platform's record as JSON (no secrets in it)."""
    return f"{_platform(platform_id)}:record"


def inbound_tokens(platform_id: str) -> str:
    """Hash: sha256(token) -> kind, the tokens this platform may call the hub with."""
    return f"{_platform(platform_id)}:inbound"


def outbound_token(platform_id: str) -> str:
    """String: the token the hub calls this platform with (a secret; the hub must send it)."""
    return f"{_platform(platform_id)}:outbound"


def handshake_lock(platform_id: str) -> str:
    """String with a TTL: held while a credentials handshake for this platform runs."""
    return f"{_platform(platform_id)}:lock"


def rate_limit(platform_id: str, module: str) -> str:
    """String with a TTL: the rate limit state of this platform's calls of ``module``."""
    return f"{_platform(platform_id)}:rate:{module}"


def roles_sent(platform_id: str) -> str:
    """String: the digest of the parties a 2.3.0 platform was last told it can reach, in the
    hub's credentials (hub.registration.roles_digest)."""
    return f"{_platform(platform_id)}:roles-sent"


def last_seen(platform_id: str) -> str:
    """String: when the platform last called the hub (written at most once a minute)."""
    return f"{_platform(platform_id)}:seen"


# --- what the hub learns from the calls it routes (open routing) ---------------------------
# One key per object, in any slot: they are read and written one at a time.


def owners(kind: str, object_id: str) -> str:
    """Set: who owns (or takes part in) this object: "CC:PID" or "CC:PID>CC:PID" entries."""
    return f"{PREFIX}:owner:{kind}:{object_id.upper()}"


def contract(contract_id: str) -> str:
    """String: the CdrToken (JSON) of the token with this contract id (2.1.1 ``auth_id``)."""
    return f"{PREFIX}:contract:{contract_id.upper()}"


def reservation_number(reservation_id: str) -> str:
    """String with a TTL: the 2.1.1 int that stands for a 2.2.1 reservation id."""
    return f"{PREFIX}:reservation-number:{reservation_id.upper()}"


def reservation_counter() -> str:
    """Counter: the last 2.1.1 reservation number handed out."""
    return f"{PREFIX}:reservation-numbers"


# --- hub URLs that stand in for a platform's URL (callbacks, next pages, CDR locations) -----


def proxy(proxy_id: str) -> str:
    """String with a TTL: where a hub URL leads (JSON)."""
    return f"{PREFIX}:proxy:{proxy_id}"


# --- queued delivery (one queue per receiving platform, in that platform's slot) -----------


def queue(platform_id: str) -> str:
    """Stream: the messages waiting for this platform, oldest first."""
    return f"{_platform(platform_id)}:queue"


def queue_latest(platform_id: str) -> str:
    """Hash: object key -> id of the newest full-state message queued for it (coalescing)."""
    return f"{_platform(platform_id)}:queue-latest"


def queue_push(platform_id: str) -> str:
    """String: the id of the last broadcast push queued for this platform (hub.fanout)."""
    return f"{_platform(platform_id)}:queue-push"


def dead_letters(platform_id: str) -> str:
    """Stream: messages parked for this platform, with the reason."""
    return f"{_platform(platform_id)}:dead"


# --- the delivery schedule (hub-wide, {hub} slot: its scripts change several at once) --------


def delivery_due() -> str:
    """Sorted set: platform id -> when (epoch ms) it has something to do (messages queued, or an
    OFFLINE platform's next probe); while a process holds it, when that hold expires."""
    return f"{_HUB}:delivery:due"


def delivery_holders() -> str:
    """Hash: platform id -> the hub process (consumer) that delivers its queue now."""
    return f"{_HUB}:delivery:holders"


def delivery_parked() -> str:
    """Set: platforms that have dead letters (or had: a redrive that empties them removes the
    platform, and the delivery sweep adds any that is missing)."""
    return f"{_HUB}:delivery:parked"


def delivery_dirty() -> str:
    """Set: platforms that were queued to while a process held them (look again after)."""
    return f"{_HUB}:delivery:dirty"


def delivery_last() -> str:
    """Hash: platform id -> the consumer that held it last (what it left pending is claimed by
    the next holder if that is another one)."""
    return f"{_HUB}:delivery:last"


def delivery_failures() -> str:
    """Hash: platform id -> failed attempts in a row (its retry clock, shared by processes)."""
    return f"{_HUB}:delivery:failures"


def fanouts() -> str:
    """Stream: broadcast pushes acknowledged to their sender and not yet queued for each
    receiver (oldest first)."""
    return f"{_HUB}:fanouts"


def fanout_leader() -> str:
    """String with a TTL: the hub process that queues the broadcast pushes now."""
    return f"{_HUB}:fanout-leader"


def keepalive_due() -> str:
    """Sorted set: platform id -> when (epoch ms) its HubClientInfo keep-alive is due."""
    return f"{_HUB}:delivery:keepalive"


# --- objects the hub keeps for GET-all (broadcast data), one slot per module ----------------
# Every key of one module shares the tag {held:<module>}, so that a Lua script may change the
# object and its indexes together, also on Redis Cluster.


def _held(module: str) -> str:
    return f"{PREFIX}:{{held:{module}}}"


def held_objects(module: str) -> str:
    """Hash: object key ("CC:PID:ID", tokens "CC:PID:UID:TYPE") -> the object's JSON."""
    return f"{_held(module)}:objects"


def held_index(module: str) -> str:
    """Sorted set: object key scored by its last_updated in epoch milliseconds (GET-all)."""
    return f"{_held(module)}:index"


def held_ids(module: str) -> str:
    """Sorted set, all scores 0: "<ID>\\0<object key>", to find an object by id alone (lex)."""
    return f"{_held(module)}:ids"


# --- sessions and CDRs the hub delivered, kept for their eMSP to pull again -----------------
# Every key of one eMSP party shares the tag {kept:<CC>:<PID>}, so that a Lua script may change
# a record and its two indexes together, also on Redis Cluster. Each key expires --cdr-retention
# after its last write, so that the records of a party nobody writes to or reads vanish on
# their own (README: "Kept sessions and CDRs").


def _kept(emsp: tuple[str, str]) -> str:
    # CiString: parties are case-insensitive, so a party's records sit under one spelling.
    return f"{PREFIX}:{{kept:{emsp[0].upper()}:{emsp[1].upper()}}}"


def kept_records(module: str, emsp: tuple[str, str]) -> str:
    """Hash: record key ("<CPO CC>:<CPO PID>:<OBJECT ID>") -> the 2.2.1 object's JSON."""
    return f"{_kept(emsp)}:{module}:records"


def kept_index(module: str, emsp: tuple[str, str]) -> str:
    """Sorted set: record key scored by the object's last_updated in epoch milliseconds."""
    return f"{_kept(emsp)}:{module}:index"


def kept_times(module: str, emsp: tuple[str, str]) -> str:
    """Sorted set: record key scored by when the hub last kept it, in epoch milliseconds (what
    retention prunes by)."""
    return f"{_kept(emsp)}:{module}:kept"


# Sessions and CDRs whose eMSP the hub could not find, one slot for the hub's whole list.
_UNROUTED = f"{PREFIX}:{{unrouted}}"


def unrouted_records() -> str:
    """Hash: unrouted id -> the parked record's JSON (module, CPO, object id, reason, body)."""
    return f"{_UNROUTED}:records"


def unrouted_times() -> str:
    """Sorted set: unrouted id scored by when the hub parked it, in epoch milliseconds."""
    return f"{_UNROUTED}:kept"

"""The sign-in throttle: failed sign-ins per (account, client address) and per client address,
shared by every instance through the store; an address that has not failed is never refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from toolkit.errors import N_, TooManyRequests
from toolkit.store import ObjectMissing, Store, StoreUnavailable, VersionMismatch

log = logging.getLogger(__name__)


TOO_MANY_ATTEMPTS = N_("Too many failed attempts. Wait a few minutes and try again.")
THROTTLE_PREFIX = "throttle/sign-in/"


@dataclass(frozen=True)
class ThrottleRules:
    """Failures allowed before waiting, and how the wait grows."""

    per_account: int = 5  # failures of one client address on one account
    per_address: int = 20  # failures of one client address on all accounts together (spraying)
    first_wait: float = 30.0  # then 30 s, doubling with each further failure
    longest_wait: float = 15 * 60.0
    forget_after: float = 60 * 60.0  # a counter with no failure for this long starts again

    def wait(self, failures: int, free: int) -> float:
        if failures < free:
            return 0.0
        doublings: int = min(failures - free, 30)
        return min(self.longest_wait, self.first_wait * float(2**doublings))


Counter = dict[str, float]
State = dict[str, Any]


def _counter(raw: Any) -> Counter:
    try:
        return {name: float(raw.get(name, 0)) for name in ("n", "last", "until")}
    except (AttributeError, TypeError, ValueError):
        return {"n": 0.0, "last": 0.0, "until": 0.0}


class LoginThrottle:
    """Failed sign-ins per (account, client address) and per client address, shared by every
    instance through the store.

    After `per_account` failures of one address on one account, that address waits before it may
    try that account again, and after `per_address` failures on any accounts, before it may try any;
    each further failure doubles the wait (30 s up to 15 minutes). Another address, and so the
    account's owner, is never held up by someone else's failures: only a client's own failures make
    it wait. Unknown e-mail addresses count exactly like known ones, and every refusal says the same.

    Store: one small JSON object per client address and UTC day,
    throttle/sign-in/<day>/<pseudonym>.json, holding the address's counter and one per account it
    failed on, written with If-Match/If-None-Match (a refused write reads again and retries). A
    check reads today's object, or yesterday's when there is none today (the first failure of a day
    carries over what is still counting). Nothing is written for a successful sign-in from an
    address without failures. Objects of days before yesterday are deleted by the first instance to
    write on a new day. Addresses and e-mails appear only as HMACs under the portal's key.
    When the store cannot be reached, this instance's own memory of the recent state decides.
    """

    def __init__(
        self,
        store: Store,
        key: Callable[[], bytes],
        *,
        rules: ThrottleRules | None = None,
        clock: Callable[[], float] = time.time,
        memory: int = 10_000,
    ) -> None:
        self.store = store
        self.rules = rules or ThrottleRules()
        self.clock = clock
        self._key = key
        self._memory = memory
        self._local: OrderedDict[str, State] = OrderedDict()
        self._lock = threading.Lock()
        self._swept = ""

    # What callers use

    def check(self, account: str, client: str) -> None:
        """TooManyRequests while this client must wait before trying this account."""
        bucket, name = self._pseudonym("address", client), self._pseudonym("account", account)
        try:
            state = self._read(bucket)[0]
        except StoreUnavailable:
            log.warning("sign-in throttle: store unreachable, using this instance's memory")
            state = self._remembered(bucket)
        moment = self.clock()
        account_until = _counter(state["accounts"].get(name))["until"]
        if state["until"] > moment or account_until > moment:
            raise TooManyRequests(TOO_MANY_ATTEMPTS)

    def failed(self, account: str, client: str) -> None:
        bucket, name = self._pseudonym("address", client), self._pseudonym("account", account)

        def change(state: State) -> State | None:
            moment = self.clock()
            rules = self.rules
            one = _counter(state["accounts"].get(name))
            one["n"] += 1
            one["last"] = moment
            one["until"] = moment + rules.wait(int(one["n"]), rules.per_account)
            state["n"] += 1
            state["last"] = moment
            state["until"] = moment + rules.wait(int(state["n"]), rules.per_address)
            state["accounts"][name] = one
            return state

        self._change(bucket, change)

    def succeeded(self, account: str, client: str) -> None:
        """The right password: this client's count for this account starts again (its count over all
        accounts does not, or one account of its own would let it spray for ever)."""
        bucket, name = self._pseudonym("address", client), self._pseudonym("account", account)
        if name not in self._remembered(bucket)["accounts"]:
            return  # check() read it a moment ago: nothing to clear, so no store request at all

        def change(state: State) -> State | None:
            return state if state["accounts"].pop(name, None) is not None else None

        self._change(bucket, change)

    # The shared objects

    def _pseudonym(self, kind: str, value: str) -> str:
        return hmac.new(self._key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]

    def _day(self, offset: int = 0) -> str:
        moment = datetime.fromtimestamp(self.clock(), UTC).date() - timedelta(days=offset)
        return moment.isoformat()

    def _state(self, raw: bytes) -> State:
        """The object's counters without what is forgotten; an unreadable object counts as empty."""
        try:
            data = json.loads(raw)
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        moment, rules = self.clock(), self.rules

        def counting(counter: Counter) -> bool:
            return counter["until"] > moment or moment - counter["last"] < rules.forget_after

        top = _counter(data)
        accounts = data.get("accounts")
        counters = {str(n): _counter(c) for n, c in accounts.items()} if isinstance(accounts, dict) else {}
        kept = {name: counter for name, counter in counters.items() if counting(counter)}
        if not counting(top):
            top = {"n": 0.0, "last": 0.0, "until": 0.0}
        return {**top, "accounts": kept}

    def _read(self, bucket: str) -> tuple[State, str | None, str]:
        """(state, version of today's object or None, today's key)."""
        key = f"{THROTTLE_PREFIX}{self._day()}/{bucket}.json"
        try:
            raw, etag = self.store.read(key)
            state = self._state(raw)
            self._remember(bucket, state)
            return state, etag, key
        except ObjectMissing:
            pass
        try:
            raw, _ = self.store.read(f"{THROTTLE_PREFIX}{self._day(1)}/{bucket}.json")
            state = self._state(raw)
        except ObjectMissing:
            state = self._state(b"{}")
        self._remember(bucket, state)
        return state, None, key

    def _change(self, bucket: str, change: Callable[[State], State | None]) -> None:
        for _ in range(8):
            try:
                state, version, key = self._read(bucket)
            except StoreUnavailable:
                log.warning("sign-in throttle: store unreachable, counting in this instance's memory")
                changed = change(self._remembered(bucket))
                if changed is not None:
                    self._remember(bucket, changed)
                return
            changed = change(state)
            if changed is None:
                return
            body = json.dumps(changed, separators=(",", ":")).encode()
            try:
                if version is None:
                    self.store.put(key, body, content_type="application/json", if_none_match=True)
                else:
                    self.store.put(key, body, content_type="application/json", if_match=version)
            except VersionMismatch:
                continue  # another instance counted a failure of this client at the same moment
            except StoreUnavailable:
                log.warning("sign-in throttle: store unreachable, counting in this instance's memory")
                self._remember(bucket, changed)
                return
            self._remember(bucket, changed)
            if version is None:
                self._sweep()
            return
        log.warning("sign-in throttle: gave up counting after repeated conflicting writes")

    def _sweep(self) -> None:
        """Delete the objects of days before yesterday, once a day per instance."""
        today = self._day()
        if self._swept == today:
            return
        self._swept = today
        keep_from = self._day(1)
        try:
            for day in self.store.folders(THROTTLE_PREFIX):
                if _is_day(day) and day < keep_from:
                    self.store.delete_many([info.key for info in self.store.list(f"{THROTTLE_PREFIX}{day}/")])
        except Exception:
            log.exception("sign-in throttle: could not delete old objects; the next day tries again")

    # This instance's memory, for when the store cannot be reached

    def _remember(self, bucket: str, state: State) -> None:
        with self._lock:
            self._local[bucket] = state
            self._local.move_to_end(bucket)
            while len(self._local) > self._memory:
                self._local.popitem(last=False)

    def _remembered(self, bucket: str) -> State:
        with self._lock:
            known = self._local.get(bucket)
        return self._state(json.dumps(known).encode()) if known is not None else self._state(b"{}")


def _is_day(name: str) -> bool:
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return len(name) == 10

"""The printed report: the table header, one line per figure with its ratios to the ceilings
and to the peer (each beside the issue's goal), the ceilings' own lines, worker memory, and
the scale comparison."""

from __future__ import annotations

from collections.abc import Sequence

from loadbench.wrk import Result

TOKEN_FIGURES = ("token_v3", "token_oauth2")

# Which ceiling each figure is read against, and the goal for that ratio (percent).
# The token figures are read against two cores' raw signing in the deployment's algorithm
# ("signx2"); the 55 % goal is the for RS256 (ES256/EdDSA goals are against a peer).
CEILING_OF: dict[str, tuple[str, int | None]] = {
    "token_v3": ("signx2", 55),
    "token_oauth2": ("signx2", 55),
    "check": ("hello_post", 80),
    "check_get": ("hello_get", 80),
    "list_token": ("hello_get", 50),
    "list_basic": ("hello_get", 50),
    "get_token": ("hello_get", 80),
    "introspect": ("hello_post", 80),
}

# With --peer: the oidc-provider figure each Keyloft figure is compared with, and the issue's
# goal for the ratio (RS256 tokens; ES256 and EdDSA tokens are held to 4 times its RS256 figure).
PEER_OF: dict[str, tuple[str, float | None]] = {
    "token_v3": ("oidcp_token", 1.6),
    "token_oauth2": ("oidcp_token", 1.6),
    "check": ("oidcp_introspect", 2.5),
    "check_get": ("oidcp_introspect", 2.5),
    "get_token": ("oidcp_introspect", 2.5),
    "introspect": ("oidcp_introspect", None),
}


def print_header(title: str) -> None:
    print(f"\n== {title}")
    print(
        f"{'figure':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} {'cpu µs':>7}  "
        f"{'ratio (goal), and by CPU time per request':<44} runs req/s"
    )


class Report:
    """The ceilings' and the peer's figures measured so far in a run (throughput, and CPU
    time per request under ``<name>:cpu``), and the lines that read later figures against
    them."""

    def __init__(self, algorithm: str) -> None:
        self.ceilings: dict[str, float] = {}
        self.ceiling_of = dict(CEILING_OF)
        self.peer_of = dict(PEER_OF)
        if algorithm != "RS256":
            for name in TOKEN_FIGURES:
                self.ceiling_of[name] = ("signx2", None)
                self.peer_of[name] = ("oidcp_token", 4.0)

    def signing(self, signing: dict[str, float], algorithm: str, rate: float | None) -> None:
        """Keep the raw signing ceiling of ``algorithm``, then print the signing and resource
        decision rates."""
        self.ceilings.update(signing)
        self.ceilings["signx2"] = 2 * signing[algorithm.lower()]
        # By CPU: the share of a token's cost that is the bare signature.
        self.ceilings["signx2:cpu"] = 1e6 / signing[algorithm.lower()]
        print_header("ceilings (same run)")
        for name in ("rs256", "es256", "eddsa", "keyring_rs256"):
            rate_line = f"{signing[name]:>9.0f}  signatures/s, one core, in process"
            print(f"{name + ' sign':<16} {rate_line}")
        if rate is not None:
            share = f"{100 * rate / 10_000:.0f} % of 10,000"
            what = f"decisions/s, one core, repeated token ({share})"
            print(f"{'resource_verify':<16} {rate:>9.0f}  {what}")

    def remember(self, result: Result) -> None:
        """Keep a ceiling's or a peer's throughput and CPU cost for the ratios of later
        lines."""
        if result.status == "ok":
            self.ceilings[result.name] = result.rps
            self.ceilings[result.name + ":cpu"] = result.cpu_us

    def _ratio(self, result: Result, other: str, percent: bool) -> str:
        """``result`` against ``other`` by throughput, and by the CPU each request cost the
        server (steadier on a shared machine, where another tenant's load moves throughput)."""
        by_rate = result.rps / self.ceilings[other]
        cost = self.ceilings.get(other + ":cpu")
        by_cpu = cost / result.cpu_us if cost and result.cpu_us else None
        if percent:
            return f"{100 * by_rate:5.1f} % of {other}" + (
                f" [cpu {100 * by_cpu:.0f} %]" if by_cpu else ""
            )
        return f"{by_rate:.2f}x {other}" + (f" [cpu {by_cpu:.2f}x]" if by_cpu else "")

    def line(self, result: Result) -> None:
        if result.status == "FAILED":
            print(f"{result.name:<16} FAILED: {result.detail}")
            return
        tail = f"{result.p99_ms / result.p50_ms:>8.2f}" if result.p50_ms else f"{'-':>8}"
        parts = []
        if result.name in self.ceiling_of:
            ceiling, goal = self.ceiling_of[result.name]
            if self.ceilings.get(ceiling):
                target = f" (≥ {goal} %)" if goal is not None else ""
                parts.append(self._ratio(result, ceiling, percent=True) + target)
        if result.name in self.peer_of:
            peer, peer_goal = self.peer_of[result.name]
            if self.ceilings.get(peer):
                target = f" (≥ {peer_goal:g})" if peer_goal is not None else ""
                parts.append(self._ratio(result, peer, percent=False) + target)
        ratio = "; ".join(parts)
        runs = "/".join(f"{r:.0f}" for r in result.runs)
        flag = "" if result.status == "ok" else f"  {result.status}: {result.detail}"
        print(
            f"{result.name:<16} {result.rps:>9.1f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
            f"{tail} {result.cpu_us:>7.0f}  {ratio:<44} {runs}{flag}"
        )

    def lines(self, results: Sequence[Result], *, keep: bool = False) -> None:
        """A line per result; with ``keep``, each is remembered first (a ceiling or a peer
        figure, which later lines are read against)."""
        for result in results:
            if keep:
                self.remember(result)
            self.line(result)


def print_rss(label: str, before: dict[int, float], after: dict[int, float]) -> None:
    cells = ", ".join(
        f"pid {pid}: {before.get(pid, 0):.0f} -> {mib:.0f} MiB"
        for pid, mib in sorted(after.items())
    )
    print(f"worker RSS ({label}, before -> after the load): {cells}")


def print_scale(clients: int, small: Sequence[Result], scaled: Sequence[Result]) -> None:
    """Each figure at ``clients`` clients as a share of the same figure at 100."""
    print(
        f"\n== scale: {clients:,} clients / 100 clients (goal: ≥ 0.90), "
        "by throughput [and by CPU time per request]"
    )
    by_name = {r.name: r for r in small}
    for result in scaled:
        base = by_name.get(result.name)
        if base and base.rps and result.status == base.status == "ok":
            by_cpu = base.cpu_us / result.cpu_us if result.cpu_us else 0.0
            print(
                f"{result.name:<16} {result.rps / base.rps:>6.2f}   "
                f"[cpu {by_cpu:.2f}]   "
                f"p99 {result.p99_ms:.2f} vs {base.p99_ms:.2f} ms"
            )

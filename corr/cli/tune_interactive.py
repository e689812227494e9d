"""``corr tune --interactive``: move a rule's threshold and see at once what it flags.

Built on prompt_toolkit's full-screen :class:`~prompt_toolkit.application.Application`:
it owns the terminal (raw mode, the alternate screen, resizing), decodes
keys (arrows, Tab, Escape sequences) and gives a line editor for typed
values, none of which then needs writing by hand.  The pictures are the
rich renderables of :mod:`corr.render.histogram`, rendered to ANSI text.
Every key re-draws from the :class:`~corr.analyses.tuning.TuningSession`,
whose counts are binary searches on sorted durations: no trace is read.

Keys: ←/↓ and →/↑ move the threshold one R10 step (ten per decade); ``t``
types a value (``2.5ms`` Enter); ``s`` takes the suggestion; Tab/Shift-Tab
the next/previous rule; ``g`` the next group; ``w`` writes the rule file
(to ``--write FILE``, else back to RULES after a ``y``); ``q`` quits.
"""

from __future__ import annotations

import io
import os
import sys

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import ANSI
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.layout import ConditionalContainer, HSplit, Layout, VSplit, Window
from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ..analyses.tuning import step_down, step_up
from ..errors import CorrError, UsageError
from ..render import histogram
from ..render.escape import terminal
from ..render.units import short_duration, timestamp
from ..rules.units import format_duration, parse_duration

HELP = ("←/→ move threshold  t type value  s suggestion  Tab rule  g group  "
        "w write  q quit")


class TuneApp:
    """The session's state (which rule and group are shown) and its key bindings."""

    def __init__(self, session, write_path: str | None = None, group_limit: int = 5,
                 slowest: int = 5):
        self.session = session
        self.write_path = write_path
        self.group_limit = group_limit
        self.slowest = slowest
        self.rule_index = 0
        self.group_index = 0                  # 0: the whole rule, i: its i-th group
        self.message = Text("")
        self.confirming = False
        self.input = Buffer(multiline=False, accept_handler=self._typed)
        self.typing = False
        self.app = None                       # built by run(), once the terminal is checked

    # -- state -----------------------------------------------------------------

    @property
    def tuning(self):
        return self.session.rules[self.rule_index]

    @property
    def distribution(self):
        return self.tuning.distributions(self.group_limit)[self.group_index]

    def move(self, step) -> None:
        self.tuning.threshold_ns = step(self.tuning.threshold_ns)
        self.message = Text("")

    def next_rule(self, delta: int) -> None:
        self.rule_index = (self.rule_index + delta) % len(self.session.rules)
        self.group_index = 0

    def next_group(self) -> None:
        self.group_index = (self.group_index + 1) % len(self.tuning.distributions(self.group_limit))

    def use_suggestion(self) -> None:
        distribution = self.distribution
        suggestion = distribution.suggestion
        if suggestion is None:
            return
        self.tuning.threshold_ns = suggestion.ns
        if distribution.label is None:
            self.message = Text(f"suggested: {suggestion.method}")
            return
        # A rule has one threshold: a group's suggestion sets it for every group.
        self.message = Text(f"group {terminal(distribution.label)}'s suggestion set rule "
                            f"{self.tuning.name}'s threshold, for all its groups: "
                            f"{self._rule_flags()}", style="bold yellow")

    def _rule_flags(self) -> str:
        """The rule's threshold and what it flags over all its intervals (every group)."""
        whole = self.tuning.distributions(self.group_limit)[0]
        threshold = self.tuning.threshold_ns
        return (f"{format_duration(threshold)} flags {whole.flagged(threshold):,} of "
                f"{whole.count:,}")

    def _typed(self, buffer) -> bool:
        self.typing = False
        if self.app is not None:
            self.app.layout.focus(self.body)
        text = buffer.text.strip()
        if text:
            try:
                self.tuning.threshold_ns = parse_duration(text)
                self.message = Text("")
            except ValueError as err:
                self.message = Text(f"threshold: {err}", style="red")
        return False                          # clear the line

    def write(self) -> None:
        path = self.write_path or self.session.ruleset.path
        try:
            changes = self.session.write(path)
        except CorrError as err:
            self.message = Text(str(err), style="red")
            return
        done = ", ".join(f"{rule}.{key}={format_duration(ns)}"
                         for rule, values in changes.items() for key, ns in values.items())
        self.message = Text(f"wrote {path} ({done or 'no value changed'})", style="green")

    # -- drawing ----------------------------------------------------------------

    def _width(self) -> int:
        try:
            return self.app.output.get_size().columns
        except Exception:                     # before the first draw
            return 100

    def _ansi(self, renderable) -> ANSI:
        console = Console(file=io.StringIO(), force_terminal=True, color_system="standard",
                          width=self._width(), highlight=False, emoji=False)
        console.print(renderable, end="")
        return ANSI(console.file.getvalue())

    def view(self):
        """The rich renderable of the whole screen but the status lines."""
        tuning, distribution = self.tuning, self.distribution
        rules = Text("rules: ")
        for i, t in enumerate(self.session.rules):
            rules.append(f" {t.name} ", style="reverse bold" if i == self.rule_index else "")
        groups = len(tuning.distributions(self.group_limit)) - 1
        if groups:
            rules.append(f"   group {self.group_index}/{groups} (g)")
        if self.session.thread_filter:
            rules.append(f"   threads: {self.session.thread_filter.describe()}", style="dim")
        threshold = tuning.threshold_ns
        flagged = distribution.flagged(threshold)
        share = 100.0 * flagged / distribution.count if distribution.count else 0.0
        summary = Text(f"flags {flagged:,} of {distribution.count:,} intervals "
                       f"({share:.2f}%) at threshold {format_duration(threshold)}"
                       if threshold is not None else "no threshold: t sets one",
                       style="bold yellow")
        parts = [rules, Text(""), histogram.title(tuning, distribution)]
        if distribution.count:
            parts += [histogram.histogram_table(distribution, threshold),
                      histogram.percentiles_line(distribution)]
            suggestion = distribution.suggestion
            parts.append(Text(f"suggested {short_duration(suggestion.ns)} "
                              f"(flags {distribution.flagged(suggestion.ns):,}; "
                              f"{suggestion.method}): s takes it", style="dim"))
        parts.append(summary)
        if distribution.label is not None and threshold is not None:
            parts.append(Text(f"the threshold is rule {tuning.name}'s, for all its groups: "
                              f"{self._rule_flags()}", style="yellow"))
        parts.append(self._slowest_table(distribution, threshold))
        return Group(*parts)

    def _slowest_table(self, distribution, threshold) -> Table:
        table = Table(title="slowest flagged", title_justify="left", show_edge=False,
                      pad_edge=False, box=None)
        for column in ("start", "duration", "tid", "comm", "key", "group"):
            table.add_column(column, no_wrap=True,
                             justify="right" if column in ("duration", "tid") else "left")
        for row in distribution.slowest(threshold, self.slowest):
            # Trace strings as Text (a str cell would be read as markup), escaped.
            group = row.get("group")
            table.add_row(timestamp(row["start_ns"]), short_duration(row["duration_ns"]),
                          str(row.get("tid", "")), Text(terminal(row.get("comm") or "")),
                          Text(terminal(row.get("key"))),
                          Text(terminal(group) if group is not None else ""))
        return table

    def _status(self) -> ANSI:
        line = Text(HELP, style="reverse")
        if self.confirming:
            message = Text(f"write {self.session.ruleset.path}? y/n", style="bold yellow")
        else:
            message = self.message
        return self._ansi(Group(message, line))

    # -- the application ---------------------------------------------------------

    def _application(self) -> Application:
        self.body = Window(FormattedTextControl(lambda: self._ansi(self.view())), wrap_lines=False)
        typing = Condition(lambda: self.typing)
        confirming = Condition(lambda: self.confirming)
        prompt = VSplit([Window(FormattedTextControl("threshold: "), width=11, height=1),
                         Window(BufferControl(self.input), height=1)])
        layout = Layout(HSplit([self.body, ConditionalContainer(prompt, filter=typing),
                                Window(FormattedTextControl(self._status), height=2)]),
                        focused_element=self.body)
        keys = KeyBindings()
        idle = ~typing & ~confirming

        @keys.add("right", filter=idle)
        @keys.add("up", filter=idle)
        def _(event):
            self.move(step_up)

        @keys.add("left", filter=idle)
        @keys.add("down", filter=idle)
        def _(event):
            self.move(step_down)

        @keys.add("tab", filter=idle)
        def _(event):
            self.next_rule(1)

        @keys.add("s-tab", filter=idle)
        def _(event):
            self.next_rule(-1)

        @keys.add("g", filter=idle)
        def _(event):
            self.next_group()

        @keys.add("s", filter=idle)
        def _(event):
            self.use_suggestion()

        @keys.add("t", filter=idle)
        def _(event):
            self.typing = True
            self.input.reset()
            event.app.layout.focus(self.input)

        @keys.add("escape", filter=typing, eager=True)
        def _(event):
            self.typing = False
            event.app.layout.focus(self.body)

        @keys.add("w", filter=idle)
        def _(event):
            if self.write_path:
                self.write()
            else:
                self.confirming = True

        @keys.add("y", filter=confirming)
        def _(event):
            self.confirming = False
            self.write()

        @keys.add("<any>", filter=confirming)
        def _(event):
            self.confirming = False
            self.message = Text("not written")

        @keys.add("q", filter=idle)
        @keys.add("c-c")
        def _(event):
            event.app.exit()

        return Application(layout=layout, key_bindings=keys, full_screen=True,
                           mouse_support=False)

    def run(self) -> None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError("--interactive needs a terminal (stdin and stdout)")
        if os.environ.get("TERM") in (None, "", "dumb"):
            raise UsageError("--interactive needs a terminal that can draw (TERM is not set)")
        self.app = self._application()
        self.app.run()

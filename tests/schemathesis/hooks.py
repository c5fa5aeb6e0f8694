"""What the document states that JSON Schema cannot check, taught to schemathesis.

Loaded by schemathesis.toml (`hooks`). Nothing here drops a case or a failure; it only makes
the generated requests obey constraints the document declares in its own words:

- `format: cron` (`cron_expression`) and `format: schedule-expression` (`schedule_expression`):
  custom formats, described in the document. A regular expression cannot say "ranges go from
  low to high" or "matches some date" (`0 0 30 2 *` never does), so schemathesis is given a
  strategy for each format instead of a pattern: it draws from the whole grammar (values, names
  in any case, ranges, lists, steps, `?`, the Quartz day operators, nicknames, EventBridge's
  rate / cron / at) and only combinations that match some date.
- `x-after` on `SchedulerCreate`: `end_datetime` must be after the start (`start_datetime`, else
  `start_date`, or the instant of an `at(...)` expression). JSON Schema cannot compare two
  fields, so a drawn body whose `end_datetime` is not after its start gets an end one day after
  the start (or none, past year 9999); a body invalid for any other reason stays invalid.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import schemathesis
from hypothesis import strategies as st

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


def any_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda lower: "".join(c.lower() if low else c for c, low in zip(word, lower))
    )


def joined(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(items, min_size=1, max_size=3).map(",".join)


def plain_items(lo: int, hi: int, render=None, first_max: int | None = None) -> st.SearchStrategy[str]:
    """A list of values, low-to-high ranges and steps within lo..hi, never starting with `*`.

    `render(value, range_end)` spells a value (a name or a number). `first_max` bounds the value
    each item starts from (so that every item reaches a day every month has).
    """
    render = render or (lambda v, _end: st.just(str(v)))
    top = hi if first_max is None else first_max

    @st.composite
    def item(draw):
        kind = draw(st.sampled_from(["value", "range", "range-step", "value-step"]))
        a = draw(st.integers(lo, top))
        if kind == "value":
            return draw(render(a, False))
        if kind == "value-step":
            return f"{draw(render(a, False))}/{draw(st.integers(1, 100))}"
        b = draw(st.integers(a, hi))
        text = f"{draw(render(a, False))}-{draw(render(b, True))}"
        if kind == "range-step":
            text += f"/{draw(st.integers(1, 100))}"
        return text

    return joined(item())


def month_name(v: int, _end: bool) -> st.SearchStrategy[str]:
    return st.one_of(st.just(str(v)), any_case(MONTHS[v - 1]))


def weekday_name(v: int, end: bool) -> st.SearchStrategy[str]:
    # SUN closing a range stands for 7 (FRI-SUN), and for 0 only in SUN-SUN / 0-SUN.
    if v == 7:
        return st.one_of(st.just("7"), any_case("SUN")) if end else st.just("7")
    if v == 0:
        return st.just("0")
    return st.one_of(st.just(str(v)), any_case(WEEKDAYS[v]))


def unrestricted_or(field: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["*", "?"]), field)


def dom_operator() -> st.SearchStrategy[str]:
    return st.one_of(
        any_case("L"),
        any_case("LW"),
        st.integers(0, 30).map(lambda n: f"L-{n}"),
        st.integers(1, 31).map(lambda n: f"{n}W"),
    ).flatmap(lambda s: any_case(s))


def dow_operator(max_nth: int, first: int = 0, last: int = 7, names=WEEKDAYS) -> st.SearchStrategy[str]:
    weekday = st.integers(first, last).flatmap(
        lambda v: st.one_of(st.just(str(v)), any_case(names[v % 7]))
        if v < 7 or first > 0
        else st.just(str(v))
    )
    return st.one_of(
        any_case("L"),
        weekday.map(lambda w: f"{w}L"),
        st.tuples(weekday, st.integers(1, max_nth)).map(lambda t: f"{t[0]}#{t[1]}"),
    ).flatmap(lambda s: any_case(s))


@st.composite
def cron_expressions(draw) -> str:
    """`cron_expression`: 5, 6 or 7 fields, or a nickname; always matching some date."""
    if draw(st.integers(0, 9)) == 0:
        nick = draw(st.sampled_from(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]))
        return draw(any_case(nick))
    time_field = lambda lo, hi: st.one_of(  # noqa: E731
        st.just("*"), st.integers(1, 100).map(lambda n: f"*/{n}"), plain_items(lo, hi)
    )
    second = draw(time_field(0, 59))
    minute = draw(time_field(0, 59))
    hour = draw(time_field(0, 23))
    calendar_free = draw(st.booleans())
    if calendar_free:
        # Every month of every year: any day of month, any weekday, every operator.
        month, year = "*", "*"
        dom = draw(unrestricted_or(joined(st.one_of(plain_items(1, 31), dom_operator()))))
        dow = draw(unrestricted_or(joined(st.one_of(plain_items(0, 7, weekday_name), dow_operator(5)))))
    else:
        # Some months or years only: days every month has (1-28), weekdays without the 5th.
        month = draw(st.one_of(st.just("*"), plain_items(1, 12, month_name)))
        year = draw(st.one_of(st.just("*"), plain_items(1970, 2099)))
        dom = draw(unrestricted_or(plain_items(1, 31, first_max=28)))
        dow = draw(unrestricted_or(joined(st.one_of(plain_items(0, 7, weekday_name), dow_operator(4)))))
    shape = 7 if year != "*" else draw(st.sampled_from([5, 6, 7]))
    fields = [minute, hour, dom, month, dow]
    if shape >= 6:
        fields.insert(0, second)
    if shape == 7:
        fields.append(year)
    sep = draw(st.sampled_from([" ", " ", "  ", "\t"]))
    return sep.join(fields)


@st.composite
def schedule_expressions(draw) -> str:
    """`schedule_expression`: EventBridge's rate(...), cron(...) or at(...)."""
    kind = draw(st.sampled_from(["rate", "cron", "at"]))
    if kind == "rate":
        value = draw(st.one_of(st.just(1), st.integers(1, 1_000_000)))
        unit = draw(st.sampled_from(["minute", "hour", "day"]))
        return f"rate({value} {unit if value == 1 else unit + 's'})"
    if kind == "at":
        when = draw(st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 12, 31)))
        return f"at({when:%Y-%m-%dT%H:%M:%S})"
    minute = draw(st.one_of(st.just("*"), plain_items(0, 59)))
    hour = draw(st.one_of(st.just("*"), plain_items(0, 23)))
    calendar_free = draw(st.booleans())
    # Days of week 1-7 from SUN (EventBridge).
    eb_weekday = lambda v, end: st.one_of(st.just(str(v)), any_case(WEEKDAYS[v - 1]))  # noqa: E731
    if calendar_free:
        month, year = "*", "*"
        days = joined(st.one_of(plain_items(1, 31), dom_operator()))
        weekdays = joined(st.one_of(plain_items(1, 7, eb_weekday), dow_operator(5, 1, 7, ["SAT", *WEEKDAYS])))
    else:
        month = draw(st.one_of(st.just("*"), plain_items(1, 12, month_name)))
        year = draw(st.one_of(st.just("*"), plain_items(1970, 2099)))
        days = plain_items(1, 31, first_max=28)
        weekdays = joined(st.one_of(plain_items(1, 7, eb_weekday), dow_operator(4, 1, 7, ["SAT", *WEEKDAYS])))
    if draw(st.booleans()):
        dom, dow = "?", draw(st.one_of(st.just("*"), weekdays))
    else:
        dom, dow = draw(st.one_of(st.just("*"), days)), "?"
    return f"cron({minute} {hour} {dom} {month} {dow} {year})"


schemathesis.openapi.format("cron", cron_expressions())
schemathesis.openapi.format("schedule-expression", schedule_expressions())


# --- x-after: end_datetime after the start -------------------------------------------------

RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


def days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def millis(text: object) -> int | None:
    """Milliseconds since the epoch, truncated as the server reads it; None when not a date-time."""
    if not isinstance(text, str):
        return None
    m = RFC3339.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or "")[:3].ljust(3, "0")
    offset = 0
    if m.group(8) not in ("Z", "z"):
        sign = 1 if m.group(8)[0] == "+" else -1
        offset = sign * (int(m.group(8)[1:3]) * 60 + int(m.group(8)[4:6]))
    seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset * 60
    return seconds * 1000 + int(frac)


def start_millis(doc: dict) -> int | None:
    expression = doc.get("schedule_expression")
    if isinstance(expression, str) and expression.startswith("at(") and expression.endswith(")"):
        try:
            local = dt.datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S")
            zone = doc.get("timezone")
            at = local.replace(tzinfo=ZoneInfo(zone if isinstance(zone, str) else "UTC"))
            # A day-light saving gap moves it by an hour at most: count the start an hour later.
            return int(at.timestamp() * 1000) + 3_600_000
        except (ValueError, KeyError, OSError):
            return None
    start = doc.get("start_datetime")
    if not (isinstance(start, str) and start):
        start = doc.get("start_date")
    return millis(start)


def format_millis(ms: int) -> str:
    when = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
    # strftime's %Y does not pad years before 1000.
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:"
        f"{when.second:02d}.{when.microsecond // 1000:03d}Z"
    )


def end_after_start(doc: dict) -> None:
    end = millis(doc.get("end_datetime"))
    start = start_millis(doc)
    if end is None or start is None or end > start:
        return
    try:
        doc["end_datetime"] = format_millis(start + 86_400_000)
    except OverflowError:
        doc["end_datetime"] = None


# The operations whose body is a SchedulerCreate (a form's payload for the file route), which
# declares x-after: the creates and the preview of an unsaved scheduler.
CREATES = re.compile(r"/schedulers(/files|/preview)?$")


def declares_after(context) -> bool:
    operation = getattr(context, "operation", None)
    return (
        operation is not None
        and operation.method.lower() == "post"
        and CREATES.search(operation.path) is not None
    )


@schemathesis.hook
def map_case(context, case):
    # map_case runs in every phase (map_body only where Hypothesis draws the body).
    body = case.body
    if isinstance(body, dict) and declares_after(context):
        target = body.get("payload") if isinstance(body.get("payload"), dict) else body
        end_after_start(target)
    return case

"""Cron schedules per source: crontab read as crontab, config errors naming the source, the
poll job's trigger at start-up and after a reload, IDLE in between, and `ambient status`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tzlocal
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ambient.core.config import (
    MaildirSourceSettings,
    Secrets,
    Settings,
    SpoolSourceSettings,
    load_settings,
)
from ambient.core.errors import ConfigError
from ambient.core.leases import process_name
from ambient.core.schedule import cron_trigger, next_poll, weekday_names
from ambient.daemon.health import HeartbeatRecorder
from ambient.daemon.notify import Notifier
from ambient.daemon.reload import Reloader
from ambient.daemon.service import Daemon
from ambient.runtime import Runtime
from tests.conftest import CommandLine, FrozenClock
from tests.daemon.mail import email_bytes
from tests.daemon.processors import AgentTestProcessor
from tests.daemon.test_imap_push import message_ids, push_source, start
from tests.daemon.test_worker import wait_for
from tests.servers.dovecot import ImapAccount

OFFICE_HOURS = "*/5 8-18 * * 1-5"  # every five minutes, 8:00 to 18:55, Monday to Friday


def fields(trigger: BaseTrigger) -> dict[str, str]:
    """The trigger's restricted fields as APScheduler reads them."""
    assert isinstance(trigger, CronTrigger)
    return {
        field.name: str(field)
        for field in trigger.fields
        if not field.is_default and str(field) != "*"
    }


def fire_times(trigger: CronTrigger, now: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `now`, in UTC, as the scheduler would compute them."""
    times: list[datetime] = []
    previous = None
    for _ in range(count):
        upcoming = trigger.get_next_fire_time(previous, now)
        assert upcoming is not None
        times.append(upcoming.astimezone(UTC))
        previous = now = upcoming
    return times


def at(*moment: int) -> datetime:
    return datetime(*moment, tzinfo=UTC)


# ---- crontab read as crontab ------------------------------------------------------------


@pytest.mark.parametrize(
    ("crontab", "names"),
    [
        ("1-5", "mon-fri"),
        ("0", "sun"),
        ("7", "sun"),  # 0 and 7 are both Sunday
        ("0,6", "sat-sun"),
        ("5-7", "fri-sun"),
        ("*/2", "tue,thu,sat-sun"),  # 0 (Sunday), 2, 4, 6
        ("mon-wed,FRI", "mon-wed,fri"),
        ("*", "*"),
    ],
)
def test_weekday_numbers_are_crontabs_sunday_first_not_apschedulers_monday_first(
    crontab: str, names: str
) -> None:
    assert weekday_names(crontab) == names


def test_office_hours_fire_every_five_minutes_on_weekdays_in_the_sources_zone() -> None:
    trigger = cron_trigger(OFFICE_HOURS, "Europe/Berlin")
    assert fields(trigger) == {"day_of_week": "mon-fri", "hour": "8-18", "minute": "*/5"}
    friday_evening = FrozenClock(at(2026, 11, 27, 17, 52))  # 18:52 in Berlin (UTC+1)

    assert fire_times(trigger, friday_evening.now(), 3) == [
        at(2026, 11, 27, 17, 55),  # 18:55, the last one on Friday
        at(2026, 11, 30, 7, 0),  # then Monday 08:00 in Berlin: nothing at the weekend
        at(2026, 11, 30, 7, 5),
    ]
    # the zone's own clock: after the switch to summer time, 08:00 in Berlin is 06:00 UTC
    assert fire_times(trigger, at(2027, 3, 26, 17, 56), 1) == [at(2027, 3, 29, 6, 0)]


def test_next_poll_is_the_next_cron_time_or_the_interval_after_the_last_poll(
    clock: FrozenClock,
) -> None:
    clock.current = at(2026, 11, 28, 12, 0)  # a Saturday
    cron = MaildirSourceSettings(cron=OFFICE_HOURS, timezone="UTC")
    assert next_poll(cron, clock.now(), clock.now()) == at(2026, 11, 30, 8, 0)

    every = MaildirSourceSettings(interval_seconds=15)
    assert next_poll(every, None, clock.now()) == clock.now()  # never polled: at once
    assert next_poll(every, clock.now(), clock.now()) == clock.now() + timedelta(seconds=15)
    assert next_poll(every, clock.now() - timedelta(hours=1), clock.now()) == clock.now()


def test_without_a_timezone_cron_runs_on_the_systems_local_time() -> None:
    assert str(cron_trigger(OFFICE_HOURS).timezone) == str(tzlocal.get_localzone())


# ---- config errors name the source ------------------------------------------------------

IMAP_SOURCE = """
[[sources]]
type = "maildir"
name = "inbox"

[[sources]]
type = "imap"
name = "work"
host = "imap.example.com"
username = "me@example.com"
password_env = "WORK_PASSWORD"
{schedule}
"""


def load_with(ambient_home: Path, schedule: str) -> Settings:
    (ambient_home / "ambient.toml").write_text(IMAP_SOURCE.format(schedule=schedule))
    return load_settings()[0]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ('cron = "*/5 8-18 * *"', "sources[1].cron: source 'work': expected 5 fields"),
        ('cron = "61 * * * *"', "sources[1].cron: source 'work': minute '61': the last value"),
        ('cron = "0 9 * * 1-8"', "sources[1].cron: source 'work': day-of-week '8': expected 0-7"),
        ('cron = "0 9 * * 5-1"', "day-of-week '5-1': the range runs backwards"),
        ('cron = "0 9 31 2 *"', "sources[1].cron: source 'work': never fires"),
        ('cron = "0 9 1 * mon"', "restricts both day-of-month and day-of-week"),
        (
            f'cron = "{OFFICE_HOURS}"\ntimezone = "Europe/Berlinn"',
            "sources[1].timezone: source 'work': unknown time zone 'Europe/Berlinn'",
        ),
        ('timezone = "UTC"', "sources[1].timezone: source 'work': timezone is only used with cron"),
    ],
)
def test_a_bad_schedule_is_a_config_error_naming_the_source_when_the_config_loads(
    ambient_home: Path, schedule: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_with(ambient_home, schedule)
    assert "ambient.toml: " in str(raised.value)
    assert message in str(raised.value)


def test_a_good_schedule_loads_as_written(ambient_home: Path) -> None:
    settings = load_with(ambient_home, f'cron = "{OFFICE_HOURS}"\ntimezone = "Europe/Berlin"')
    work = settings.sources[1]
    assert (work.cron, work.timezone, work.interval_seconds) == (OFFICE_HOURS, "Europe/Berlin", 300)
    assert settings.sources[0].cron is None  # no cron: every interval_seconds, as before


# ---- the poll job's trigger -------------------------------------------------------------


@pytest.fixture
async def scheduler() -> AsyncIterator[AsyncIOScheduler]:
    """A scheduler that holds jobs but runs none: the trigger is what is under test."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start(paused=True)
    yield scheduler
    scheduler.shutdown(wait=False)


def scheduled(
    settings: Settings, secrets: Secrets, clock: FrozenClock, scheduler: AsyncIOScheduler
) -> Daemon:
    settings.worker.poll_jitter_seconds = 0
    daemon = Runtime(settings, secrets, clock).daemon
    daemon._schedule(scheduler)
    return daemon


async def test_a_cron_source_gets_a_cron_trigger_and_still_polls_at_start_up(
    settings: Settings, secrets: Secrets, clock: FrozenClock, scheduler: AsyncIOScheduler
) -> None:
    settings.sources = [
        MaildirSourceSettings(cron=OFFICE_HOURS, timezone="Europe/Berlin"),
        SpoolSourceSettings(cron="0 7 * * 0", timezone="UTC"),
    ]
    scheduled(settings, secrets, clock, scheduler)

    inbox, spool = scheduler.get_job("poll:inbox"), scheduler.get_job("poll:spool")
    assert fields(inbox.trigger) == {"day_of_week": "mon-fri", "hour": "8-18", "minute": "*/5"}
    assert str(inbox.trigger.timezone) == "Europe/Berlin"
    assert fields(spool.trigger) == {"day_of_week": "sun", "hour": "7", "minute": "0"}
    # the first poll is at once, whatever the schedule: a daemon started at 19:00 reads what
    # came in while it was down; the cron decides the polls after it
    assert inbox.next_run_time == spool.next_run_time == clock.now()


async def test_without_cron_the_source_polls_every_interval_seconds(
    settings: Settings, secrets: Secrets, clock: FrozenClock, scheduler: AsyncIOScheduler
) -> None:
    settings.sources = [MaildirSourceSettings(interval_seconds=15)]
    scheduled(settings, secrets, clock, scheduler)

    job = scheduler.get_job("poll:inbox")
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == timedelta(seconds=15)
    assert job.next_run_time == clock.now()


# ---- reload -------------------------------------------------------------------------------

TWO_SOURCES = """\
[worker]
poll_jitter_seconds = 0

[[sources]]
type = "maildir"
name = "inbox"
{inbox}

[[sources]]
type = "spool"
name = "drop"
{drop}
"""


@pytest.fixture
async def running(ambient_home: Path) -> AsyncIterator[tuple[Runtime, Daemon]]:
    write_sources(ambient_home, inbox=f'cron = "{OFFICE_HOURS}"\ntimezone = "Europe/Berlin"')
    runtime = Runtime(*load_settings())  # a real clock: the scheduler runs on it
    runtime.processor = AgentTestProcessor()
    daemon = runtime.daemon
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    await wait_for(lambda: daemon.scheduler is not None and daemon.scheduler.running)
    yield runtime, daemon
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    await runtime.aclose()


def write_sources(ambient_home: Path, *, inbox: str = "", drop: str = "") -> None:
    (ambient_home / "ambient.toml").write_text(TWO_SOURCES.format(inbox=inbox, drop=drop))


def trigger_of(daemon: Daemon, name: str) -> BaseTrigger:
    assert daemon.scheduler is not None
    return daemon.scheduler.get_job(f"poll:{name}").trigger


async def test_reload_replaces_a_changed_schedule_and_keeps_the_source(
    running: tuple[Runtime, Daemon], ambient_home: Path
) -> None:
    runtime, daemon = running
    inbox, drop = daemon.sources
    untouched = trigger_of(daemon, "drop")
    reloader = Reloader(
        runtime, daemon, lambda: (load_settings()[0], runtime.secrets), Notifier(None)
    )

    write_sources(ambient_home, inbox='cron = "30 6 * * 6,0"\ntimezone = "UTC"')
    assert await reloader.reload()
    assert daemon.sources == [inbox, drop]  # same objects: a new schedule keeps the source
    assert fields(trigger_of(daemon, "inbox")) == {
        "day_of_week": "sat-sun",
        "hour": "6",
        "minute": "30",
    }
    assert str(trigger_of(daemon, "inbox").timezone) == "UTC"
    assert trigger_of(daemon, "drop") is untouched  # its schedule did not change

    write_sources(ambient_home, drop='cron = "0 12 * * *"\ntimezone = "UTC"')
    assert await reloader.reload()
    assert daemon.sources == [inbox, drop]
    inbox_trigger = trigger_of(daemon, "inbox")
    assert isinstance(inbox_trigger, IntervalTrigger)  # cron removed: every interval again
    assert inbox_trigger.interval == timedelta(seconds=15)
    assert fields(trigger_of(daemon, "drop")) == {"hour": "12", "minute": "0"}


async def test_a_bad_cron_on_reload_keeps_the_running_schedule(
    running: tuple[Runtime, Daemon], ambient_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime, daemon = running
    before = trigger_of(daemon, "inbox")
    write_sources(ambient_home, inbox='cron = "0 25 * * *"')

    assert not await Reloader(runtime, daemon, load_settings, Notifier(None)).reload()
    assert trigger_of(daemon, "inbox") is before
    assert "sources[0].cron: source 'inbox': hour '25'" in caplog.text


# ---- IDLE between the scheduled polls, on the real Dovecot --------------------------------


@pytest.fixture
def real_clock_runtime(settings: Settings, secrets: Secrets) -> Iterator[Runtime]:
    """A runtime on the system clock: the scheduler fires on real time. (On the frozen test
    clock the start-up jobs would be due a week or, in the shifted pass, 400 days in the past,
    and APScheduler would step through every missed interval before the first poll.)"""
    settings.worker.poll_jitter_seconds = 0
    runtime = Runtime(settings, secrets)
    yield runtime
    runtime.close()


async def test_with_cron_and_idle_new_mail_still_arrives_by_push_between_polls(
    real_clock_runtime: Runtime, imap_account: ImapAccount
) -> None:
    runtime = real_clock_runtime
    # scheduled polls only at New Year: anything after the start-up poll arrived by IDLE
    source = push_source(runtime, imap_account, cron="0 0 1 1 *", timezone="UTC", idle=True)
    daemon, stop, task = await start(runtime, source)  # returns after the start-up poll
    assert fields(trigger_of(daemon, "work")) == {
        "month": "1",
        "day": "1",
        "hour": "0",
        "minute": "0",
    }

    imap_account.append(email_bytes("pushed", message_id="<pushed-cron@x>"))
    await wait_for(lambda: "<pushed-cron@x>" in message_ids(runtime), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=15)


# ---- ambient status ---------------------------------------------------------------------


def test_status_shows_each_sources_schedule_and_next_poll(
    cli: CommandLine, clock: FrozenClock, ambient_home: Path
) -> None:
    write_sources(ambient_home, inbox=f'cron = "{OFFICE_HOURS}"\ntimezone = "Europe/Berlin"')
    assert cli.run("init", "--no-samples")[0] == 0
    clock.current = at(2026, 11, 24, 9, 1)  # a Tuesday, 10:01 in Berlin

    code, status = cli.json("status")
    assert code == 0
    inbox, drop = status["sources"]["inbox"], status["sources"]["drop"]
    assert inbox["schedule"] == f"cron {OFFICE_HOURS} (Europe/Berlin)"
    assert drop["schedule"] == "every 10s"
    assert inbox["next_poll_at"] is None and drop["next_poll_at"] is None  # no daemon yet
    assert "at start-up" in cli.run("status")[1]

    runtime = Runtime(*load_settings(), clock)
    HeartbeatRecorder(runtime.engine, clock, "test", process_name()).beat()  # a daemon runs
    runtime.ledger.record_poll("drop")
    clock.advance(seconds=4)
    code, status = cli.json("status")
    runtime.close()
    assert status["sources"]["inbox"]["next_poll_at"] == "2026-11-24 09:05:00+00:00"
    assert status["sources"]["drop"]["next_poll_at"] == "2026-11-24 09:01:10+00:00"
    text = " ".join(cli.run("status")[1].split())
    assert "2026-11-24 09:05:00 UTC" in text and "every 10s" in text

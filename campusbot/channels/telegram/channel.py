"""campusbot on Telegram: python-telegram-bot's application and updater, run inside our loop.

- Updates come by long polling (``getUpdates``); each is a turn, its update id the
  event id recorded in the turn's transaction, so a redelivered update is a no-op.
- A Telegram account is no learner until it redeems an enrolment or link code
  (``TurnService`` decides; to others the bot explains and stores nothing).
- Replies leave through the outbox: ``RetryAfter`` pauses sending for as long as
  Telegram asks, network errors are retried with backoff, and a learner who blocked
  the bot (403) is marked unreachable, so the scheduler skips them until they write again.
- Choices are inline keyboards. A pressed keyboard is answered and replaced by the
  ticked answer; a keyboard of a question answered by typing is removed when the
  next question comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta

# PTB 22 reports time periods as timedelta when asked to, and warns otherwise.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import BotCommand, BotCommandScopeDefault, CallbackQuery, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from campusbot.channels.telegram.render import (
    ANSWER,
    DONE,
    TOGGLE,
    keyboard,
    label_of,
    parse_callback,
    split_text,
    ticked,
    to_html,
    toggled,
    used,
)
from campusbot.config import Settings, TelegramSettings
from campusbot.core.clock import Clock
from campusbot.core.messages import ChannelName, ChoiceMessage, DataMessage, FileMessage, Incoming, IncomingKind, Outgoing, TextMessage
from campusbot.core.ports import OutboxItem, Store
from campusbot.core.texts import Texts
from campusbot.core.turns import TurnService
from campusbot.errors import TransportError

log = logging.getLogger(__name__)

CHANNEL = ChannelName("telegram")
OUTBOX_BATCH = 100
IDLE_LOOK_S = 5.0
MAX_BACKOFF_S = 60.0
STOP_GRACE_S = 10.0  # how long a stop waits for the message in flight
MAX_ATTEMPTS_BAD_REQUEST = 5  # Telegram refused the message itself: retrying longer will not help
# The menu: Telegram command -> the word the dialog understands, per language.
MENU: dict[str, tuple[tuple[str, str], ...]] = {
    "de": (
        ("start", "start"), ("weiter", "next"), ("status", "status"), ("plan", "plan"), ("einstellungen", "settings"),
        ("pruefung", "exam"), ("sprache", "language"), ("pause", "pause"), ("export", "export"), ("loeschen", "erase"),
        ("hilfe", "help"),
    ),
    "en": (
        ("start", "start"), ("next", "next"), ("status", "status"), ("plan", "plan"), ("settings", "settings"),
        ("exam", "exam"), ("language", "language"), ("pause", "pause"), ("export", "export"), ("delete", "erase"),
        ("help", "help"),
    ),
}


@dataclass(frozen=True, slots=True)
class _Keyboard:
    """The latest keyboard in a chat: its message and question."""

    message_id: int
    choice_id: str
    used: bool = False


def _seconds(period: int | timedelta) -> float:
    return period.total_seconds() if isinstance(period, timedelta) else float(period)


class TelegramChannel:
    """Owns the PTB application: polling, the handlers, the command menu and the outbox sender."""

    def __init__(self, settings: Settings, turns: TurnService, store: Store, clock: Clock, texts: Texts) -> None:
        if settings.telegram is None:
            raise TransportError("the [telegram] section of the configuration is missing")
        self._settings: TelegramSettings = settings.telegram
        self._turns = turns
        self._store = store
        self._clock = clock
        self._texts = texts
        self._wake = asyncio.Event()
        self._paused_until = 0.0  # loop time until which Telegram asked us not to send (429)
        # Chat id -> its latest keyboard (in memory: after a restart, a keyboard left unanswered
        # stays; its buttons still carry their question).
        self._keyboards: dict[str, _Keyboard] = {}
        api = self._settings.api_url
        self.application = (
            Application.builder()
            .token(self._settings.token.get_secret_value())
            .base_url(f"{api}/bot")
            .base_file_url(f"{api}/file/bot")
            .get_updates_read_timeout(self._settings.poll_timeout + 10)
            .build()
        )
        self.application.add_handler(CallbackQueryHandler(self._on_callback))
        # Private chats only: nothing personal happens in groups, and the bot says nothing there.
        self.application.add_handler(MessageHandler(filters.ChatType.PRIVATE & ~filters.StatusUpdate.ALL, self._on_message))
        self.ready = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Start the application and its updater (no ``run_polling``: the loop is ours), then send until cancelled."""
        app = self.application
        try:
            await app.initialize()  # getMe: checks the token
        except InvalidToken:
            raise TransportError("Telegram refused the bot token: check telegram.token (CAMPUSBOT_TELEGRAM__TOKEN)") from None
        except NetworkError as exc:
            raise TransportError(f"cannot reach the Telegram Bot API at {self._settings.api_url}: {exc.message}") from None
        try:
            await self._set_menu()
            await app.start()
            if app.updater is None:
                raise TransportError("python-telegram-bot built no updater")
            await app.updater.start_polling(
                timeout=timedelta(seconds=self._settings.poll_timeout), allowed_updates=["message", "callback_query"],
            )
            self.ready.set()
            try:
                await self._send_loop()
            finally:
                if app.updater.running:
                    await app.updater.stop()
                await app.stop()
        finally:
            await app.shutdown()

    async def _set_menu(self) -> None:
        """The command menu in German (also the default) and English."""
        for lang, language_code in (("de", None), ("de", "de"), ("en", "en")):
            commands = [BotCommand(command, self._texts(lang, f"telegram.command.{key}")) for command, key in MENU[lang]]
            await self.application.bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=language_code)

    def poke(self) -> None:
        """Others (the scheduler) wrote to the outbox: read it now."""
        self._wake.set()

    # -- receiving ----------------------------------------------------------------------------

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        # A photo's caption is what the learner wrote; a sticker or a bare photo has no text,
        # and the dialog says it got none.
        text = (message.text or message.caption or "").strip()
        kind: IncomingKind = "message"
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            command = command.split("@", 1)[0]  # "/status@campusbot_bot"
            if command == "/start" and not rest.strip():
                kind, text = "open", ""
            elif command != "/start":
                text = (command + " " + rest).strip()
        incoming = Incoming(
            CHANNEL, str(user.id), str(message.chat_id), f"update-{update.update_id}", text=text, kind=kind,
            lang_hint=(user.language_code or "")[:2] or None, display_name=user.full_name or None,
        )
        await self._turn(incoming)

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        data = query.data or ""
        message = query.message
        markup = getattr(message, "reply_markup", None)
        kind, key, choice_id = parse_callback(data)
        if message is None or not isinstance(markup, InlineKeyboardMarkup) or kind not in (ANSWER, TOGGLE, DONE):
            await self._answer(query)  # a used keyboard: nothing more to do
            return
        chat = str(message.chat.id)
        await self._answer(query)
        if kind == TOGGLE:
            await self._edit_keyboard(chat, message.message_id, toggled(markup, data))
            return
        if kind == ANSWER:
            keys, labels = [key], [label_of(markup, data)]
        else:
            chosen = ticked(markup)
            keys, labels = [k for k, _ in chosen], [label for _, label in chosen]
        known = self._keyboards.get(chat)
        if known is not None and known.message_id == message.message_id:
            self._keyboards[chat] = _Keyboard(known.message_id, known.choice_id, used=True)
            choice_id = choice_id or known.choice_id
        await self._edit_keyboard(chat, message.message_id, used(labels))
        incoming = Incoming(
            CHANNEL, str(user.id), chat, f"update-{update.update_id}", kind="choice", choice_id=choice_id or "",
            option_keys=tuple(keys), lang_hint=(user.language_code or "")[:2] or None, display_name=user.full_name or None,
        )
        await self._turn(incoming)

    @staticmethod
    async def _answer(query: CallbackQuery) -> None:
        """Stop the button's spinner; if that fails, the learner's answer still counts."""
        try:
            await query.answer()
        except TelegramError as exc:
            log.debug("telegram: callback query not answered: %s", exc.message)

    async def _turn(self, incoming: Incoming) -> None:
        result = self._turns.handle(incoming)
        for message in result.unstored:
            # Someone who is no learner: answered once, directly; nothing goes to the outbox.
            try:
                await self._deliver(incoming.address, message)
            except TelegramError as exc:
                log.info("telegram: could not answer a stranger: %s", exc)
        if result.outbox:
            self._wake.set()

    # -- sending ------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            delay = await self._drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()

    async def _drain(self) -> float:
        loop = asyncio.get_running_loop()
        if loop.time() < self._paused_until:
            return self._paused_until - loop.time()
        with self._store.transaction() as tx:
            items = tx.pending_outbox(CHANNEL, OUTBOX_BATCH, self._clock.now())
        blocked: set[str] = set()
        next_wait = IDLE_LOOK_S
        for item in items:
            if item.address in blocked:
                continue  # keep each chat's messages in order
            retry_after = await self._send(item)
            if retry_after is not None:
                blocked.add(item.address)
                next_wait = min(next_wait, retry_after)
        return 0.0 if len(items) == OUTBOX_BATCH and not blocked else next_wait

    async def _send(self, item: OutboxItem) -> float | None:
        """Send one outbox item; None when it is done with, else seconds until it may be retried.

        Telegram has no idempotency key: a message sent but not recorded as sent would go out
        again after a restart. So a stop waits (briefly) for the message in flight."""
        sending = asyncio.ensure_future(self._send_now(item))
        try:
            return await asyncio.shield(sending)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(sending, timeout=STOP_GRACE_S)
            raise

    async def _send_now(self, item: OutboxItem) -> float | None:
        now = self._clock.now()
        try:
            await self._deliver(item.address, item.message)
        except RetryAfter as exc:
            wait = _seconds(exc.retry_after)
            log.warning("telegram: flood control, pausing %.0f s", wait)
            self._paused_until = asyncio.get_running_loop().time() + wait
            return self._retry(item, wait)
        except Forbidden as exc:
            # Blocked by the learner (or the account is gone): no use trying again. The scheduler
            # skips them from now on; when they write again they are reachable again.
            log.info("telegram: %s refuses messages (%s); marked unreachable", item.address, exc.message)
            with self._store.transaction() as tx:
                tx.mark_unreachable(CHANNEL, item.address, now)
                tx.mark_delivered(item.id)
            return None
        except BadRequest as exc:
            if item.attempts + 1 >= MAX_ATTEMPTS_BAD_REQUEST:
                log.error("telegram: outbox %s refused %d times, dropped: %s", item.id, item.attempts + 1, exc.message)
                with self._store.transaction() as tx:
                    tx.mark_delivered(item.id)
                return None
            log.warning("telegram: outbox %s refused: %s", item.id, exc.message)
            return self._retry(item, self._backoff(item))
        except (NetworkError, TelegramError, OSError) as exc:
            log.warning("telegram: sending outbox %s failed: %s", item.id, exc)
            return self._retry(item, self._backoff(item))
        with self._store.transaction() as tx:
            tx.mark_delivered(item.id)
        return None

    def _retry(self, item: OutboxItem, seconds: float) -> float:
        with self._store.transaction() as tx:
            tx.mark_failed(item.id, self._clock.now() + timedelta(seconds=seconds))
        return seconds

    @staticmethod
    def _backoff(item: OutboxItem) -> float:
        return float(min(2 ** item.attempts, MAX_BACKOFF_S))

    async def _deliver(self, chat: str, message: Outgoing) -> None:
        bot = self.application.bot
        match message:
            case TextMessage(text=text):
                for piece in split_text(text):
                    await bot.send_message(chat, to_html(piece), parse_mode=ParseMode.HTML, disable_web_page_preview=True)
            case ChoiceMessage():
                await self._retire_keyboard(chat)
                *before, last = split_text(message.prompt)
                for piece in before:
                    await bot.send_message(chat, to_html(piece), parse_mode=ParseMode.HTML)
                sent = await bot.send_message(chat, to_html(last), parse_mode=ParseMode.HTML, reply_markup=keyboard(message))
                self._keyboards[chat] = _Keyboard(sent.message_id, message.choice_id)
            case FileMessage():
                caption = to_html(message.caption)[:1024] if message.caption else None
                await bot.send_document(
                    chat, InputFile(message.data, filename=message.filename), caption=caption, parse_mode=ParseMode.HTML,
                )
            case DataMessage():
                raise TransportError("structured data is not for Telegram chats")

    async def _retire_keyboard(self, chat: str) -> None:
        """A new question: the previous keyboard, if it was answered by typing, goes."""
        known = self._keyboards.get(chat)
        if known is not None and not known.used:
            await self._edit_keyboard(chat, known.message_id, None)

    async def _edit_keyboard(self, chat: str, message_id: int, markup: InlineKeyboardMarkup | None) -> None:
        try:
            await self.application.bot.edit_message_reply_markup(chat, message_id, reply_markup=markup)
        except TelegramError as exc:
            # "message is not modified", too old to edit, blocked, offline: cosmetic, never worth a retry.
            log.debug("telegram: keyboard of %s/%s not edited: %s", chat, message_id, exc.message)

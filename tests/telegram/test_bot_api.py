"""The fake Bot API, exercised through python-telegram-bot's real request layer."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, InvalidToken, NetworkError, RetryAfter

from tests.telegram.bot_api import FakeBotApi

TOKEN = "123456:AAHfake-token_for-tests"  # noqa: S105
USER = 4711
HTML: dict[str, Any] = {"parse_mode": ParseMode.HTML}


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


def make_bot(api: FakeBotApi, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=f"{api.url}/bot", base_file_url=f"{api.url}/file/bot")


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with make_bot(api) as bot:
        yield bot


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.title(), callback_data=d) for d in data]])


def polling(api: FakeBotApi) -> bool:
    return any(method == "getUpdates" for method, _ in api.calls)


async def test_get_me_and_wrong_token(api: FakeBotApi, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "campusbot_test_bot", True)
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with make_bot(api, "123456:wrong"):  # initialising calls getMe
            pass
    assert api.calls == [("getMe", {}), ("getMe", {})]  # the wrong token never reached a method


async def test_send_message_with_keyboard_then_remove_it(api: FakeBotApi, bot: Bot) -> None:
    first = await bot.send_message(USER, "<b>Hallo</b> &amp; <a href='https://example.org'>Link</a>", parse_mode=ParseMode.HTML)
    second = await bot.send_message(USER, "Weiter?", reply_markup=keyboard("yes", "no"))
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.text == "Hallo & Link"
    assert [(e.type, e.offset, e.length, e.url) for e in first.entities] == [
        ("bold", 0, 5, None),
        ("text_link", 8, 4, "https://example.org"),
    ]
    assert second.reply_markup == keyboard("yes", "no")
    assert second.from_user is not None
    assert second.from_user.username == "campusbot_test_bot"
    assert second.chat.id == USER
    assert second.chat.type == "private"
    sent = api.sent(USER)
    assert [(s.kind, s.text, s.parse_mode) for s in sent] == [("text", first_text := sent[0].text, "HTML"), ("text", "Weiter?", None)]
    assert first_text is not None
    assert first_text.startswith("<b>Hallo</b>")
    assert sent[1].reply_markup == keyboard("yes", "no").to_dict()

    edited = await bot.edit_message_reply_markup(USER, second.message_id)
    assert isinstance(edited, Message)
    assert edited.reply_markup is None
    assert api.sent(USER)[1].reply_markup is None
    with pytest.raises(BadRequest, match=r"^Message is not modified"):
        await bot.edit_message_reply_markup(USER, second.message_id)
    with pytest.raises(AssertionError, match="no button 'yes'"):
        api.press(USER, second.message_id, "yes")


async def test_edit_message_text_drops_keyboard_unless_repeated(api: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(USER, "Frage", reply_markup=keyboard("a"))
    kept = await bot.edit_message_text("Frage (2)", USER, message.message_id, reply_markup=keyboard("a"))
    assert isinstance(kept, Message)
    assert kept.text == "Frage (2)"
    assert kept.reply_markup == keyboard("a")
    dropped = await bot.edit_message_text("Beantwortet", USER, message.message_id)
    assert isinstance(dropped, Message)
    assert dropped.reply_markup is None
    assert api.sent(USER)[0].text == "Beantwortet"


@pytest.mark.parametrize(
    ("text", "kwargs", "description"),
    [
        ("<b>offen", HTML, "can't parse entities: Can't find end tag corresponding to start tag \"b\""),
        ("<p>Absatz</p>", HTML, 'can\'t parse entities: Unsupported start tag "p" at byte offset 0'),
        ("Ä < B", HTML, 'can\'t parse entities: Unsupported start tag "" at byte offset 3'),
        ("<b><i>x</b></i>", HTML, 'can\'t parse entities: Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("a&nbsp;b", HTML, 'can\'t parse entities: Unsupported HTML entity "&nbsp;" at byte offset 1'),
        ("<span>x</span>", HTML, 'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b></b>", HTML, "message text is empty"),
        ("x" * 4097, {}, "message is too long"),
        ("ok", {"reply_markup": keyboard("x" * 65)}, "BUTTON_DATA_INVALID"),
        ("ok", {"parse_mode": "BBCode"}, "unsupported parse_mode"),
    ],
    ids=["unclosed", "unknown-tag", "bare-lt", "crossed", "entity", "span", "empty", "too-long", "button-data", "parse-mode"],
)
async def test_send_message_is_validated_like_telegram(bot: Bot, text: str, kwargs: dict[str, Any], description: str) -> None:
    with pytest.raises(BadRequest) as info:
        await bot.send_message(USER, text, **kwargs)
    # PTB drops "Bad Request: " and lower-cases all but the first letter of Telegram's description.
    assert info.value.message == description.capitalize()


async def test_supported_html_passes(bot: Bot) -> None:
    text = (
        '<strong>a</strong><em>b</em><ins>c</ins><del>d</del><tg-spoiler>e</tg-spoiler><span class="tg-spoiler">f</span>'
        '<code>g</code><pre><code class="language-python">h</code></pre><blockquote expandable>i</blockquote>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>&lt;&gt;&quot;&#228;&#x1F600;'
    )
    message = await bot.send_message(USER, text, parse_mode=ParseMode.HTML)
    assert message.text == "abcdefgh" + 'i👍<>"ä😀'
    assert [e.type for e in message.entities][-3:] == ["pre", "expandable_blockquote", "custom_emoji"]
    assert message.entities[-3].language == "python"


async def test_send_document_round_trip(api: FakeBotApi, bot: Bot) -> None:
    data = bytes(range(256)) * 40
    message = await bot.send_document(
        USER, InputFile(data, filename="Zertifikat Müller.pdf"), caption="<i>Glückwunsch</i>", parse_mode="HTML"
    )
    assert message.document is not None
    assert (message.document.file_name, message.document.mime_type, message.document.file_size) == (
        "Zertifikat Müller.pdf",
        "application/pdf",
        len(data),
    )
    assert message.caption == "Glückwunsch"
    [sent] = api.sent(USER)
    assert (sent.kind, sent.filename, sent.mime_type, sent.data, sent.caption) == (
        "document",
        "Zertifikat Müller.pdf",
        "application/pdf",
        data,
        "<i>Glückwunsch</i>",
    )
    file = await bot.get_file(message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == data
    again = await bot.send_document(USER, message.document.file_id)
    assert again.document is not None
    assert again.document.file_unique_id == message.document.file_unique_id


async def test_commands_per_language(api: FakeBotApi, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand("start", "Beginnen"), BotCommand("hilfe", "Hilfe")], language_code="de")
    assert await bot.set_my_commands([BotCommand("start", "Start")], language_code="en")
    assert [c.command for c in await bot.get_my_commands(language_code="de")] == ["start", "hilfe"]
    assert await bot.get_my_commands() == ()
    assert api.commands == {
        "de": [{"command": "start", "description": "Beginnen"}, {"command": "hilfe", "description": "Hilfe"}],
        "en": [{"command": "start", "description": "Start"}],
    }
    with pytest.raises(BadRequest, match=r"^Bot_command_invalid$"):
        await bot.set_my_commands([BotCommand("/Start", "x")])
    assert await bot.delete_my_commands(language_code="en")
    assert list(api.commands) == ["de"]


async def test_get_updates_returns_queued_text(api: FakeBotApi, bot: Bot) -> None:
    update_id = api.send_text(USER, "/start@campusbot_test_bot hallo", first_name="Erika", username="erika")
    [update] = await bot.get_updates(timeout=0)
    assert update.update_id == update_id
    assert update.message is not None
    assert update.message.text == "/start@campusbot_test_bot hallo"
    assert update.effective_user is not None
    assert (update.effective_user.id, update.effective_user.username) == (USER, "erika")
    assert [(e.type, e.offset, e.length) for e in update.message.entities] == [("bot_command", 0, 25)]
    assert await bot.get_updates(timeout=0) == (update,)  # not confirmed yet
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()
    reply = await bot.send_message(USER, "Hallo Erika")
    assert reply.message_id == update.message.message_id + 1  # one id sequence per private chat


async def test_long_poll_waits_and_wakes_at_once(api: FakeBotApi, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=1) == ()
    assert loop.time() - started >= 0.9

    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await api.wait_for(lambda: len([c for c in api.calls if c[0] == "getUpdates"]) == 2)
    await asyncio.sleep(0.05)
    queued = loop.time()
    api.send_text(USER, "hallo")
    [update] = await poll
    assert loop.time() - queued < 0.1
    assert update.message is not None
    assert update.message.text == "hallo"


async def test_allowed_updates_and_limit(api: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(USER, "?", reply_markup=keyboard("a"))
    api.send_text(USER, "eins")
    api.send_text(USER, "zwei")
    api.press(USER, message.message_id, "a")
    assert [u.message.text for u in await bot.get_updates(timeout=0, limit=2) if u.message] == ["eins", "zwei"]
    [query] = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    assert query.callback_query is not None


async def test_press_yields_callback_query(api: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(USER, "Weiter?", reply_markup=keyboard("yes", "no"))
    query_id = api.press(USER, message.message_id, "no")
    [update] = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None
    assert (query.id, query.data, query.from_user.id) == (query_id, "no", USER)
    assert isinstance(query.message, Message)
    assert query.message.message_id == message.message_id
    assert query.message.reply_markup == keyboard("yes", "no")
    assert await query.answer("Danke", show_alert=True)
    assert api.callback_answers[query_id] == {"callback_query_id": query_id, "text": "Danke", "show_alert": True}
    with pytest.raises(BadRequest, match=r"^Query is too old"):
        await query.answer()


async def test_rate_limit_raises_retry_after(api: FakeBotApi, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without PTB_TIMEDELTA, PTB 22.8 warns (PTBDeprecationWarning) as soon as it builds a RetryAfter.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    api.fail_next("sendMessage", 429, retry_after=7, times=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER, "zu schnell")
        assert info.value.retry_after == dt.timedelta(seconds=7)
    assert (await bot.send_message(USER, "jetzt")).text == "jetzt"
    assert [s.text for s in api.sent(USER)] == ["jetzt"]


async def test_blocked_user_is_forbidden(api: FakeBotApi, bot: Bot) -> None:
    api.block(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "Hallo?")
    with pytest.raises(Forbidden):
        await bot.send_document(USER, InputFile(b"x", filename="a.txt"))
    assert await bot.send_message(USER + 1, "Andere") is not None
    api.unblock(USER)
    assert (await bot.send_message(USER, "Wieder da")).text == "Wieder da"


async def test_outage_raises_network_error_also_for_pending_poll(api: FakeBotApi, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await api.wait_for(lambda: polling(api))
    api.go_down()
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await poll
    with pytest.raises(NetworkError):
        await bot.send_message(USER, "weg")
    api.come_up()
    assert (await bot.send_message(USER, "da")).message_id == 1


async def test_second_poll_terminates_the_first(api: FakeBotApi, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await api.wait_for(lambda: polling(api))
    async with make_bot(api) as other:
        assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_unknown_method_and_other_encodings(api: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")
    async with aiohttp.ClientSession() as session:
        markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
        async with session.post(
            f"{api.url}/bot{TOKEN}/sendmessage", json={"chat_id": USER, "text": "json", "reply_markup": markup}
        ) as response:
            body = await response.json()
        assert body["ok"] is True
        assert body["result"]["reply_markup"] == markup
        async with session.get(f"{api.url}/bot{TOKEN}/getMe?x=1") as response:
            assert (await response.json())["result"]["username"] == "campusbot_test_bot"
        async with session.get(f"{api.url}/bot{TOKEN}/nope") as response:
            assert (response.status, await response.json()) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert api.calls[-3:] == [
        ("sendMessage", {"chat_id": USER, "text": "json", "reply_markup": markup}),
        ("getMe", {"x": "1"}),
        ("nope", {}),
    ]


async def test_fault_injection_with_custom_error(api: FakeBotApi, bot: Bot) -> None:
    api.fail_next("answerCallbackQuery", 400, "Bad Request: QUERY_ID_INVALID")
    with pytest.raises(BadRequest, match=r"^Query_id_invalid$"):
        await bot.answer_callback_query("1")


async def test_wait_for_wakes_on_change_and_explains_timeouts(api: FakeBotApi, bot: Bot) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(USER, "endlich")

    task = asyncio.create_task(later())
    sent = await api.wait_for(lambda: api.sent(USER) or None, timeout=2)
    assert sent[0].text == "endlich"
    await task
    with pytest.raises(TimeoutError, match=r"(?s)last calls:.*sendMessage"):
        await api.wait_for(lambda: len(api.sent(USER)) > 1, timeout=0.1)

"""A local fake of the Telegram Bot API that python-telegram-bot's real request layer talks to over HTTP.

Paths are ``/bot{token}/{method}`` and ``/file/bot{token}/{file_path}``, so a client is pointed at it with
``base_url=f"{api.url}/bot"`` and ``base_file_url=f"{api.url}/file/bot"``. Answers are shaped like Telegram's:
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import mimetypes
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Literal, TypeVar

from aiohttp import web

T = TypeVar("T")
JSON = dict[str, Any]
Handler = Callable[[JSON], Awaitable[Any]]

_JSON_FIELDS = frozenset(
    {"reply_markup", "commands", "scope", "allowed_updates", "entities", "caption_entities", "link_preview_options", "reply_parameters"}
)
_INT_FIELDS = frozenset({"chat_id", "message_id", "offset", "limit", "timeout", "cache_time", "message_thread_id"})
_BOOL_FIELDS = frozenset(
    {"disable_notification", "protect_content", "show_alert", "drop_pending_updates", "disable_content_type_detection"}
)
_PARSE_MODES = frozenset({"html", "markdown", "markdownv2"})
_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?")
_BOT_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
_DEFAULT_SCOPE = '{"type": "default"}'
_DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    mime_type: str
    data: bytes


@dataclass
class SentMessage:
    """What the bot sent to a chat; `reply_markup` follows later edits."""

    message_id: int
    kind: Literal["text", "document"]
    text: str | None = None
    parse_mode: str | None = None
    reply_markup: JSON | None = None
    filename: str | None = None
    mime_type: str | None = None
    data: bytes | None = None
    caption: str | None = None


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class _File:
    file_id: str
    unique_id: str
    path: str
    upload: Upload


# Telegram's HTML subset -> entity type.
_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class _TelegramHtml(HTMLParser):
    """Parses text with parse_mode HTML the way Telegram does: plain text plus entities, or ApiError."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self.source = source
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[JSON] = []
        self.stack: list[tuple[str, int, dict[str, str | None]]] = []

    def parse(self) -> tuple[str, list[JSON]]:
        self.feed(self.source)
        self.close()
        if self.stack:
            self._fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1][0]}"')
        return "".join(self.parts), sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))

    def _fail(self, reason: str) -> None:
        raise _bad(f"can't parse entities: {reason}")

    def _byte_offset(self, extra: int = 0) -> int:
        line, column = self.getpos()
        index = self.line_starts[line - 1] + column + extra
        return len(self.source[:index].encode())

    def _append(self, text: str) -> None:
        self.parts.append(text)
        self.length += _utf16(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in _TAGS:
            self._fail(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            self._fail(f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset()}')
        if tag == "tg-emoji" and not attributes.get("emoji-id"):
            self._fail(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {self._byte_offset()}')
        self.stack.append((tag, self.length, attributes))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            self._fail(f"Unexpected end tag at byte offset {self._byte_offset()}")
        open_tag, start, attributes = self.stack.pop()
        if open_tag != tag:
            self._fail(f'Unmatched end tag at byte offset {self._byte_offset()}, expected "</{open_tag}>", found "</{tag}>"')
        language = (attributes.get("class") or "").removeprefix("language-")
        if tag == "code" and self.stack and self.stack[-1][0] == "pre" and language:
            self.stack[-1][2]["language"] = language
            return
        if self.length == start or (tag == "a" and not attributes.get("href")):
            return
        entity: JSON = {"type": _TAGS[tag], "offset": start, "length": self.length - start}
        if tag == "a":
            entity["url"] = attributes["href"]
        elif tag == "pre" and attributes.get("language"):
            entity["language"] = attributes["language"]
        elif tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attributes["emoji-id"]
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        if "<" in data:
            self._fail(f'Unsupported start tag "" at byte offset {self._byte_offset(data.index("<"))}')
        self._append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in _NAMED_ENTITIES:
            self._fail(f'Unsupported HTML entity "&{name};" at byte offset {self._byte_offset()}')
        self._append(_NAMED_ENTITIES[name])

    def handle_charref(self, name: str) -> None:
        try:
            self._append(chr(int(name[1:], 16) if name[:1] in "xX" else int(name)))
        except (ValueError, OverflowError):
            self._fail(f'Invalid HTML entity "&#{name};" at byte offset {self._byte_offset()}')

    def handle_comment(self, data: str) -> None:
        self._fail(f'Unsupported start tag "!--" at byte offset {self._byte_offset()}')

    def handle_decl(self, decl: str) -> None:
        self._fail(f'Unsupported start tag "!" at byte offset {self._byte_offset()}')

    def handle_pi(self, data: str) -> None:
        self._fail(f'Unsupported start tag "?" at byte offset {self._byte_offset()}')

    def unknown_decl(self, data: str) -> None:
        self._fail(f'Unsupported start tag "!" at byte offset {self._byte_offset()}')


def _format(text: str, parse_mode: str | None) -> tuple[str, list[JSON]]:
    """Plain text and entities of `text`; only HTML is parsed, Markdown passes through unchanged."""
    if parse_mode is None or parse_mode == "":
        return text, []
    if parse_mode.lower() not in _PARSE_MODES:
        raise _bad("unsupported parse_mode")
    if parse_mode.lower() == "html":
        return _TelegramHtml(text).parse()
    return text, []


def _normalise(raw: dict[str, Any]) -> JSON:
    """Decodes form values the way Telegram reads them: JSON-serialised objects, integers and booleans."""
    params: JSON = {}
    for key, value in raw.items():
        if isinstance(value, str) and key in _JSON_FIELDS:
            try:
                value = json.loads(value)
            except ValueError:
                what = "reply keyboard markup" if key == "reply_markup" else key
                raise _bad(f"can't parse {what} JSON object") from None
        elif isinstance(value, str) and key in _INT_FIELDS:
            try:
                value = int(value)
            except ValueError:
                raise _bad("chat not found" if key == "chat_id" else f"invalid {key} specified") from None
        elif isinstance(value, str) and key in _BOOL_FIELDS:
            value = value.lower() in ("true", "1")
        params[key] = value
    return params


async def _read_params(request: web.Request) -> dict[str, Any]:
    raw: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise _bad("can't parse JSON encoded request parameters") from None
        if not isinstance(body, dict):
            raise _bad("can't parse JSON encoded request parameters")
        raw.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                raw[key] = Upload(value.filename, value.content_type, value.file.read())
            elif isinstance(value, bytes):
                raw[key] = value.decode()
            else:
                raw[key] = value
    return raw


def _inline_markup(markup: Any) -> JSON | None:
    """Validates a reply_markup; returns it if it is a non-empty inline keyboard (the only kind a Message carries)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    for button in itertools.chain.from_iterable(rows):
        if not isinstance(button, dict) or not button.get("text"):
            raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise _bad("BUTTON_DATA_INVALID")
    return markup if any(rows) else None


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _has_button(markup: JSON | None, callback_data: str) -> bool:
    rows = (markup or {}).get("inline_keyboard", [])
    return any(button.get("callback_data") == callback_data for button in itertools.chain.from_iterable(rows))


class FakeBotApi:
    """An in-process Telegram Bot API with simulated users, inspection and fault injection."""

    def __init__(self, token: str, bot_username: str = "campusbot_test_bot") -> None:
        self.token = token
        bot_id = token.split(":", 1)[0]
        self.bot_user: JSON = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": "Campusbot Test",
            "username": bot_username,
        }
        self.calls: list[tuple[str, JSON]] = []
        self.callback_answers: dict[str, JSON] = {}
        self._commands: dict[tuple[str, str | None], list[JSON]] = {}
        self._sent: dict[int, list[SentMessage]] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._next_message_id: dict[int, int] = {}
        self._users: dict[int, JSON] = {}
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(4_000_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._open_queries: set[str] = set()
        self._files: dict[str, _File] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._blocked: set[int] = set()
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._down = False
        self._closing = False
        self._event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "answerCallbackQuery": self._answer_callback_query,
                "sendDocument": self._send_document,
                "getFile": self._get_file,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
            }.items()
        }

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Serves on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Ends pending long polls and shuts the server down."""
        self._closing = True
        self._changed()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """Base address, e.g. ``http://127.0.0.1:PORT``."""
        if self._url is None:
            raise RuntimeError("FakeBotApi is not started")
        return self._url

    # -- simulated users ---------------------------------------------------------------------------------------------

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Erika",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "de",
    ) -> int:
        """The user writes `text` to the bot in their private chat; returns the update id."""
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        self._users[user_id] = user
        message = self._new_message(user_id, user, {"text": text})
        if command := _COMMAND.match(text):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16(command.group())}]
        return self._enqueue({"message": message})

    def send_photo(self, user_id: int, caption: str | None = None) -> int:
        """The user sends a photo (a screenshot, say), with or without a caption; returns the update id."""
        unique = f"photo-{uuid.uuid4().hex[:12]}"
        photo: JSON = {"file_id": unique, "file_unique_id": unique, "width": 1280, "height": 720, "file_size": 84_000}
        content: JSON = {"photo": [photo]} | ({"caption": caption} if caption is not None else {})
        return self._enqueue({"message": self._new_message(user_id, self._user(user_id), content)})

    def send_sticker(self, user_id: int, emoji: str = "👍") -> int:
        """The user sends a sticker; returns the update id."""
        sticker: JSON = {
            "file_id": "sticker-thumbs-up", "file_unique_id": "sticker-thumbs-up", "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji,
        }
        return self._enqueue({"message": self._new_message(user_id, self._user(user_id), {"sticker": sticker})})

    def press(self, user_id: int, message_id: int, callback_data: str) -> str:
        """The user presses the inline button with `callback_data` under a bot message; returns the callback query id."""
        message = self._messages.get((user_id, message_id))
        if message is None or not _has_button(message.get("reply_markup"), callback_data):
            buttons = (message or {}).get("reply_markup")
            raise AssertionError(f"message {message_id} in chat {user_id} has no button {callback_data!r} now (markup: {buttons})")
        query_id = str(next(self._query_ids))
        self._open_queries.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(user_id),
            "message": message,
            "chat_instance": str(-4_000_000_000_000_000_000 - user_id),
            "data": callback_data,
        }
        self._enqueue({"callback_query": query})
        return query_id

    # -- inspection --------------------------------------------------------------------------------------------------

    def sent(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to `chat_id`, oldest first."""
        return list(self._sent.get(chat_id, []))

    @property
    def commands(self) -> dict[str | None, list[JSON]]:
        """Commands of the default scope by language_code (None: all languages)."""
        return self.commands_for(None)

    def commands_for(self, scope: JSON | None) -> dict[str | None, list[JSON]]:
        """Commands of `scope` (e.g. ``{"type": "all_private_chats"}``) by language_code."""
        key = _DEFAULT_SCOPE if scope is None else json.dumps(scope, sort_keys=True)
        return {language: commands for (scope_key, language), commands in self._commands.items() if scope_key == key}

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 10) -> T:  # noqa: ASYNC109
        """The first value of `predicate` that is neither None nor False, re-evaluated whenever the state changes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._event
            result = predicate()
            if result is not None and result is not False:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n".join(f"  {method} {params}" for method, params in self.calls[-8:])
                raise TimeoutError(f"condition not met within {timeout}s; last calls:\n{recent or '  (none)'}")
            await _wait(event, remaining)

    # -- fault injection ---------------------------------------------------------------------------------------------

    def fail_next(self, method: str, status: int, description: str | None = None, retry_after: int | None = None, times: int = 1) -> None:
        """The next `times` calls of `method` fail with this error; 429 needs `retry_after`."""
        if status == 429:
            if retry_after is None:
                raise ValueError("a 429 needs retry_after")
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or _DESCRIPTIONS.get(status, "Internal Server Error")
        self._faults.setdefault(method.lower(), []).append(_Fault(status, description, retry_after, times))

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sending to their chat fails with 403."""
        self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        self._blocked.discard(user_id)

    def go_down(self) -> None:
        """Every request (pending long polls too) gets 502 Bad Gateway until `come_up`."""
        self._down = True
        self._changed()

    def come_up(self) -> None:
        self._down = False
        self._changed()

    # -- internals ---------------------------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def _enqueue(self, update: JSON) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self._changed()
        return update_id

    def _user(self, user_id: int) -> JSON:
        return self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "Erika", "language_code": "de"}

    def _new_message(self, chat_id: int, sender: JSON, content: JSON) -> JSON:
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        user = self._user(chat_id)
        chat = {key: user[key] for key in ("id", "first_name", "last_name", "username") if key in user} | {"type": "private"}
        message = {"message_id": message_id, "from": sender, "chat": chat, "date": int(time.time()), **content}
        self._messages[(chat_id, message_id)] = message
        return message

    def _fault(self, method: str) -> None:
        faults = self._faults.get(method.lower())
        if faults:
            fault = faults[0]
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
            raise ApiError(fault.status, fault.description, fault.retry_after)

    def _chat(self, params: JSON) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise _bad("chat_id is empty" if chat_id is None else "chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _own_message(self, params: JSON) -> tuple[JSON, SentMessage]:
        chat_id = self._chat(params)
        message = self._messages.get((chat_id, params.get("message_id", 0)))
        if message is None:
            raise _bad("message to edit not found")
        record = next((s for s in self._sent.get(chat_id, []) if s.message_id == message["message_id"]), None)
        if record is None:
            raise _bad("message can't be edited")
        return message, record

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if self._down:
            return web.Response(status=502, text=_BAD_GATEWAY, content_type="text/html")
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        name = request.match_info["method"]
        known = self._methods.get(name.lower())
        canonical = known[0] if known else name
        params: JSON = {}
        try:
            params = await _read_params(request)
            params = _normalise(params)
        except ApiError as error:
            self.calls.append((canonical, params))
            self._changed()
            return web.json_response(error.payload(), status=error.status)
        self.calls.append((canonical, params))
        if known is None:
            self._changed()
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        try:
            self._fault(canonical)
            result = await known[1](params)
        except ApiError as error:
            return web.json_response(error.payload(), status=error.status)
        finally:
            self._changed()
        if self._down:
            return web.Response(status=502, text=_BAD_GATEWAY, content_type="text/html")
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if self._down:
            return web.Response(status=502, text=_BAD_GATEWAY, content_type="text/html")
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        for file in self._files.values():
            if file.path == request.match_info["path"]:
                return web.Response(body=file.upload.data, content_type=file.upload.mime_type)
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)

    async def _get_me(self, params: JSON) -> JSON:
        return self.bot_user | {"can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _delete_webhook(self, params: JSON) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: JSON) -> JSON:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _get_updates(self, params: JSON) -> list[JSON]:
        offset = params.get("offset", 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if params.get("allowed_updates") is not None:
            self._allowed_updates = list(params["allowed_updates"])
        limit = min(max(params.get("limit", 100), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation
        self._changed()  # an older poll gets its 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(params.get("timeout", 0), 0)
        while True:
            event = self._event
            if self._closing or self._down:
                return []  # the dispatcher answers 502 when down
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
            allowed = self._allowed_updates
            ready = [u for u in self._updates if not allowed or next(k for k in u if k != "update_id") in allowed][:limit]
            remaining = deadline - loop.time()
            if ready or remaining <= 0:
                return ready
            await _wait(event, remaining)

    def _text(self, params: JSON, field: str, limit: int) -> tuple[str, list[JSON]]:
        text = str(params.get(field, ""))
        parse_mode = params.get("parse_mode")
        plain, entities = _format(text, parse_mode)
        if not parse_mode and field == "text" and isinstance(params.get("entities"), list):
            entities = params["entities"]
        if field == "text" and not plain.strip():
            raise _bad("message text is empty")
        if len(plain) > limit:
            raise _bad("message is too long" if field == "text" else "message caption is too long")
        return plain, entities

    async def _send_message(self, params: JSON) -> JSON:
        chat_id = self._chat(params)
        plain, entities = self._text(params, "text", 4096)
        inline = _inline_markup(params.get("reply_markup"))
        content: JSON = {"text": plain}
        if entities:
            content["entities"] = entities
        if inline:
            content["reply_markup"] = inline
        message = self._new_message(chat_id, self.bot_user, content)
        record = SentMessage(message["message_id"], "text", str(params["text"]), params.get("parse_mode"), params.get("reply_markup"))
        self._sent.setdefault(chat_id, []).append(record)
        return message

    async def _edit_message_text(self, params: JSON) -> JSON:
        message, record = self._own_message(params)
        plain, entities = self._text(params, "text", 4096)
        inline = _inline_markup(params.get("reply_markup"))  # no reply_markup removes the keyboard, as on Telegram
        if plain == message.get("text") and entities == message.get("entities", []) and inline == message.get("reply_markup"):
            raise _bad(
                "message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message"
            )
        message.pop("entities", None)
        message.pop("reply_markup", None)
        message.update({"text": plain, "edit_date": int(time.time())})
        if entities:
            message["entities"] = entities
        if inline:
            message["reply_markup"] = inline
        record.text, record.parse_mode, record.reply_markup = str(params["text"]), params.get("parse_mode"), inline
        return message

    async def _edit_message_reply_markup(self, params: JSON) -> JSON:
        message, record = self._own_message(params)
        inline = _inline_markup(params.get("reply_markup"))
        if inline == message.get("reply_markup"):
            raise _bad(
                "message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message"
            )
        message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        if inline:
            message["reply_markup"] = inline
        record.reply_markup = inline
        return message

    async def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._open_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        self.callback_answers[query_id] = params
        return True

    async def _send_document(self, params: JSON) -> JSON:
        chat_id = self._chat(params)
        document = params.get("document")
        if isinstance(document, Upload):
            if not document.data:
                raise _bad("file must be non-empty")
            number = next(self._file_ids)
            extension = mimetypes.guess_extension(document.mime_type) or ""
            file = _File(f"BQACAgIAAxkDAAI{number:08d}", f"AgAD{number:06d}", f"documents/file_{number}{extension}", document)
            self._files[file.file_id] = file
        elif isinstance(document, str) and document in self._files:
            file = self._files[document]
        elif document is None:
            raise _bad("there is no document in the request")
        else:
            raise _bad("wrong file identifier/HTTP URL specified")
        caption, entities = self._text(params, "caption", 1024)
        upload = file.upload
        content: JSON = {
            "document": {
                "file_id": file.file_id,
                "file_unique_id": file.unique_id,
                "file_name": upload.filename,
                "mime_type": upload.mime_type,
                "file_size": len(upload.data),
            }
        }
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        if inline := _inline_markup(params.get("reply_markup")):
            content["reply_markup"] = inline
        message = self._new_message(chat_id, self.bot_user, content)
        record = SentMessage(
            message["message_id"],
            "document",
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup"),
            filename=upload.filename,
            mime_type=upload.mime_type,
            data=upload.data,
            caption=params.get("caption"),
        )
        self._sent.setdefault(chat_id, []).append(record)
        return message

    async def _get_file(self, params: JSON) -> JSON:
        file = self._files.get(str(params.get("file_id")))
        if file is None:
            raise _bad("invalid file_id")
        return {"file_id": file.file_id, "file_unique_id": file.unique_id, "file_size": len(file.upload.data), "file_path": file.path}

    def _commands_key(self, params: JSON) -> tuple[str, str | None]:
        scope = params.get("scope")
        return (_DEFAULT_SCOPE if scope is None else json.dumps(scope, sort_keys=True)), params.get("language_code") or None

    async def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND.match(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self._commands[key] = commands
        else:
            self._commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: JSON) -> list[JSON]:
        return self._commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

"""The chat websocket at ``ws/chat/``: protocol v2, documented in docs/websocket.md.

The consumer is thin: it validates each frame strictly, reads and writes through services,
starts each turn's answer (``chat.services.turns``) and relays the frames the generations
publish to the conversations it joined (``chat.bus`` hands it each frame with its text,
encoded once for every socket). It never streams an answer itself, so closing the socket
never stops one. Every frame it sends is built by ``chat.protocol``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import gateway
from accounts.access import live
from accounts.preferences.language import language_for_socket
from chat import bus, protocol, selectors, services
from chat.models import Attachment, Conversation, Message
from chat.protocol import CLIENT_VERSIONS, PROTOCOL_VERSION
from chat.services.assistant_turn import AssistantUnavailable, assistant_refusal
from chat.services.attachments import AttachmentRefused
from chat.services.generation import (
    generation_resume,
    generation_stop,
    generation_tool_decide,
)
from chat.services.messages import STREAMING_HEARTBEAT, ModelNoImages
from chat.services.tool_steps import MAX_TOOLS, ToolsRefused
from chat.services.turns import turn_start
from chat.visibility import user_is_staff
from common import telemetry
from common.text import data_refusal
from common.websockets import (
    CLOSE_UNAUTHENTICATED,
    WebsocketConsumer,
    access_group,
    datasets_group,
    shared_text_sender,
)

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1
# A stop not confirmed after this long is sent again, up to this many times (_stop_until_ended).
STOP_REPEAT_SECONDS = 1.0
STOP_REPEATS = 10
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
# The frames that start an answer: each is the root span of the answer's trace (a socket
# lives for hours, so the socket itself is no span: docs/operations.md, "Tracing").
_TRACED_FRAMES = {"chat.send", "chat.regenerate", "chat.continue"}

_FIELDS = {
    "chat.send": {
        "conversation",
        "content",
        "model",
        "datasets",
        "attachments",
        "tools",
        "parent",
        "root",
        "client_id",
        "assistant",
    },
    "chat.tool_approve": {"message", "call", "approve"},
    "chat.stop": {"message"},
    "chat.regenerate": {"message", "model", "client_id"},
    "chat.resume": {"message", "after_seq"},
    "chat.continue": {"message", "client_id"},
    # The page's heartbeat (docs/websocket.md): keeps idle connections open through proxies
    # and tells the page that the server still answers.
    "ping": set(),
}


class BadRequest(Exception):
    pass


def _id(data: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = data.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name} is required")
        return None
    # bool is an int in Python; true is not an id.
    if type(value) is not int or not 0 < value <= MAX_ID:
        raise BadRequest(f"{name} must be a positive integer id")
    return value


def _conversation_attribute(value: Any) -> str | None:
    return str(value) if type(value) is int else None


def _optional_string(data: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise BadRequest(f"{name} must be null or a string matching {pattern.pattern}")
    return value


# Named database calls, one thread hop per frame. Not thread-sensitive (see generation.py):
# each is self-contained and need not queue behind every other socket's.
db_message_send = database_sync_to_async(services.message_send, thread_sensitive=False)
db_message_regenerate = database_sync_to_async(services.message_regenerate, thread_sensitive=False)
db_message_load = database_sync_to_async(services.message_load, thread_sensitive=False)
db_message_continue = database_sync_to_async(services.message_continue, thread_sensitive=False)
db_socket_access = database_sync_to_async(live.socket_access, thread_sensitive=False)


class ChatConsumer(WebsocketConsumer):
    async def connect(self) -> None:
        self.joined: set[str] = set()  # channel-layer groups (access, datasets)
        self.conversations: set[int] = set()  # joined on the bus (chat.bus)
        # Answers this socket asked to resume, until their generation says ``chat.resumed``:
        # their deltas are dropped meanwhile (the snapshot before it has them).
        self.resuming: set[int] = set()
        # Resumed answers whose generation has not said it is alive yet, and their watchers.
        self.watchers: dict[int, asyncio.Task[None]] = {}
        self.confirmed: set[int] = set()  # confirmations that came before their watcher
        self.stoppers: dict[int, asyncio.Task[None]] = {}  # stops asked again until they end
        self.user = self.scope.get("user")
        # Set once access is confirmed and cleared when it is lost (accounts/access/live.py): every
        # frame checks it, so nothing is done for a user who was just signed out.
        self.may_act = False
        self.session_key = live.scope_session_key(self.scope)
        # How the conversation's frames reach this socket: straight to its connection when
        # the server offers it (aiportal/serve.py), else through ``send``.
        self.shared = shared_text_sender(self.scope)
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Joined before access is read, so that a change committed in between is not missed.
        await self.join(access_group(self.user.pk))
        access = await db_socket_access(user_id=self.user.pk, session_key=self.session_key)
        if not access.may_act:
            await self.access_lost(access)
            return
        self.user, self.may_act = access.user, True
        # What the person reads in this socket's refusals (not_found, too_long, …): their
        # preference or their browser's language, as on the pages. A preference changed
        # later applies from the next connection (the next page load).
        self.language = await language_for_socket(user=self.user, scope=self.scope)
        # Grants changed (datasets.services.grants): the page refetches its dataset picker.
        # Best effort: a channel-layer hiccup must not cost the person their chat (each turn
        # checks the grants again anyway).
        try:
            await self.join(datasets_group(self.user.pk))
        except Exception:
            logger.warning("could not follow the datasets of user %s", self.user.pk, exc_info=True)

    async def disconnect(self, code: int) -> None:
        # Leaving the groups is all: the generations go on and save their answers.
        for task in [*self.watchers.values(), *self.stoppers.values()]:
            task.cancel()
        await self.leave_conversations()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.may_act:
            return
        if text_data is None:
            await self.send_error("bad_request", "frames must be JSON text, not binary")
            return
        # JSON may escape each character as \uXXXX: six bytes per allowed character, plus room.
        if len(text_data) > settings.AIPORTAL_MAX_MESSAGE_CHARS * 6 + 4096:
            await self.send_too_long(None)
            return
        try:
            data = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep
            await self.send_error("bad_request", "the frame is not valid JSON")
            return
        if not isinstance(data, dict):
            await self.send_error("bad_request", "the frame must be a JSON object")
            return
        # Text the database cannot store (NUL, lone surrogates), in any field (common/text.py).
        why = data_refusal(data)
        if why:
            await self.send_error("bad_request", why)
            return
        kind = data.get("type")
        if not isinstance(kind, str) or kind not in _FIELDS:
            await self.send_error("bad_request", f"unknown frame type {str(kind)[:40]!r}")
            return
        version = data.get("v", PROTOCOL_VERSION)
        if type(version) is not int or version not in CLIENT_VERSIONS:
            await self.send_error(
                "unsupported_version", f"this server speaks v{PROTOCOL_VERSION} (and v1)"
            )
            return
        unknown = set(data) - _FIELDS[kind] - {"type", "v"}
        if unknown:
            await self.send_error("bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
            return
        handler = getattr(self, "handle_" + kind.replace(".", "_"))
        if kind in _TRACED_FRAMES and telemetry.tracing_on():
            with telemetry.span(
                f"ws {kind}",
                kind=telemetry.SpanKind.SERVER,
                attributes={
                    "aiportal.frame.type": kind,
                    "enduser.id": str(self.user.pk),
                    "gen_ai.conversation.id": _conversation_attribute(data.get("conversation")),
                },
            ):
                await self.handle(kind, handler, data)
            return
        await self.handle(kind, handler, data)

    async def handle(self, kind: str, handler: Any, data: dict[str, Any]) -> None:
        try:
            await handler(data)
        except BadRequest as exc:
            await self.send_error("bad_request", str(exc))
        except Exception:
            # A bug or an outage (database, channel layer) must not close the socket without
            # a word: the page says what happened and the socket stays usable.
            logger.exception("the %s frame failed", kind)
            with self.speaking():
                detail = _("The server could not process this request.")
            await self.send_error("internal_error", detail)

    # --- client frames -----------------------------------------------------------------------

    async def handle_chat_send(self, data: dict[str, Any]) -> None:
        client_id = _optional_string(data, "client_id", _CLIENT_ID)
        conversation_id = _id(data, "conversation", required=False)
        parent_id = _id(data, "parent", required=False)
        if parent_id is not None and conversation_id is None:
            raise BadRequest("parent needs a conversation")
        # root: a new first message in an existing conversation (an edit of the first one).
        root = data.get("root", False)
        if type(root) is not bool or (root and (parent_id is not None or not conversation_id)):
            raise BadRequest("root must be a boolean, true only with a conversation and no parent")
        model = _optional_string(data, "model", _MODEL)
        # The assistant a new conversation starts from; an existing one keeps its own.
        assistant_id = _id(data, "assistant", required=False)
        if assistant_id is not None and conversation_id is not None:
            raise BadRequest("assistant is only for a new conversation")
        datasets = data.get("datasets")
        if datasets is not None and (
            not isinstance(datasets, list)
            or not all(type(d) is int and 0 < d <= MAX_ID for d in datasets)
        ):
            raise BadRequest("datasets must be a list of ids")
        attachments = data.get("attachments")
        if attachments is not None and (
            not isinstance(attachments, list)
            or len(attachments) > 100
            or not all(type(a) is int and 0 < a <= MAX_ID for a in attachments)
        ):
            raise BadRequest("attachments must be a list of at most 100 ids")
        tools = data.get("tools")
        if tools is not None and (
            not isinstance(tools, list)
            or len(tools) > MAX_TOOLS
            or not all(isinstance(t, str) and 0 < len(t) <= 200 for t in tools)
        ):
            raise BadRequest('tools must be a list of names ("server/tool")')
        content = data.get("content")
        if not isinstance(content, str):
            raise BadRequest("content must be a string")
        if not content.strip():
            raise BadRequest("content must not be empty")
        if len(content) > settings.AIPORTAL_MAX_MESSAGE_CHARS:
            await self.send_too_long(client_id)
            return
        # With attachments and no model named, the one the gateway would pick: whether it
        # reads images must be known before anything is sent.
        fallback = ""
        if attachments and model is None:
            fallback = next(iter(await gateway.models_for_user(self.user)), "")
        try:
            turn = await db_message_send(
                user=self.user,
                conversation_id=conversation_id,
                parent_id=parent_id,
                content=content,
                model=model,
                root=root,
                datasets=datasets,
                attachments=attachments,
                fallback_model=fallback,
                tools=tools,
                assistant=assistant_id,
            )
        except (Conversation.DoesNotExist, Message.DoesNotExist, Attachment.DoesNotExist):
            await self.send_not_found(client_id)
            return
        except AttachmentRefused:
            # Too many (the only refusal of a send): nothing was written, and the composer
            # keeps its text and its chips. Said here, in the person's language.
            limit = settings.AIPORTAL_ATTACHMENTS_PER_MESSAGE
            with self.speaking():
                detail = _("A message may carry at most %(limit)s attachments.") % {"limit": limit}
            await self.send_frame(
                protocol.message_refused_frame(
                    code="too_many", detail=detail, client_id=client_id, limit=limit
                )
            )
            return
        except ModelNoImages as exc:
            with self.speaking():
                detail = _(
                    "The model %(model)s does not read images. Remove the images or choose "
                    "a model that reads them."
                ) % {"model": exc}
            await self.send_frame(
                protocol.message_refused_frame(
                    code="model_no_images", detail=detail, client_id=client_id
                )
            )
            return
        except ToolsRefused:
            # Nothing was written: the page gives the text back, as for a message too long.
            # The same words whether the tool is unknown, disabled or another group's.
            with self.speaking():
                detail = _("A chosen tool is not available to you. Choose your tools again.")
            await self.send_frame(
                protocol.message_refused_frame(
                    code="tool_unavailable", detail=detail, client_id=client_id
                )
            )
            return
        except AssistantUnavailable:
            await self.send_assistant_unavailable(client_id, new=conversation_id is None)
            return
        if turn.conversation_created:
            await self.send_frame(
                protocol.conversation_created_frame(
                    conversation=selectors.conversation_payload(turn.conversation),
                    client_id=client_id,
                )
            )
        await self.start(turn, client_id)

    async def handle_chat_regenerate(self, data: dict[str, Any]) -> None:
        client_id = _optional_string(data, "client_id", _CLIENT_ID)
        message_id = _id(data, "message", required=True)
        if data.get("model") is not None:
            raise BadRequest("choosing another model to regenerate arrives in a later version")
        try:
            turn = await db_message_regenerate(user=self.user, message_id=message_id)
        except Message.DoesNotExist:
            await self.send_not_found(client_id)
            return
        except AssistantUnavailable:
            await self.send_assistant_unavailable(client_id, new=False)
            return
        await self.start(turn, client_id)

    async def handle_chat_tool_approve(self, data: dict[str, Any]) -> None:
        """The person's decision on a tool call waiting for approval (its server's policy)."""
        message_id = _id(data, "message", required=True)
        call = data.get("call")
        approve = data.get("approve")
        if not isinstance(call, str) or not 0 < len(call) <= 100:
            raise BadRequest("call must be a tool call's id")
        if type(approve) is not bool:
            raise BadRequest("approve must be true or false")
        try:
            # Only the owner's own answer: another person's id is not found.
            message = await db_message_load(user=self.user, message_id=message_id)
        except Message.DoesNotExist:
            await self.send_not_found(None)
            return
        if message.status != Message.Status.STREAMING:
            return  # over already (stopped, or the wait ran out): nothing waits
        await generation_tool_decide(message_id=message.pk, call=call, approve=approve)

    async def handle_ping(self, data: dict[str, Any]) -> None:
        await self.send_frame(protocol.pong_frame())

    async def handle_chat_continue(self, data: dict[str, Any]) -> None:
        client_id = _optional_string(data, "client_id", _CLIENT_ID)
        message_id = _id(data, "message", required=True)
        self._stop_asking(message_id)  # the stop it may still be repeating has done its work
        try:
            turn = await db_message_continue(user=self.user, message_id=message_id)
        except Message.DoesNotExist:
            await self.send_not_found(client_id)
            return
        except AssistantUnavailable:
            await self.send_assistant_unavailable(client_id, new=False)
            return
        except services.MessageBadState as exc:
            # ``message`` stays null: nothing changed, and the page must not take this frame
            # for the end of that answer.
            await self.send_frame(
                protocol.message_refused_frame(
                    code="bad_state",
                    detail=f"This answer cannot be continued: {exc}.",
                    client_id=client_id,
                )
            )
            return
        await self.start(turn, client_id, continuing=True)

    @property
    def staff(self) -> bool:
        """Whether this socket's user sees the worker in answers' metrics (chat/visibility.py)."""
        return user_is_staff(self.user)

    async def handle_chat_stop(self, data: dict[str, Any]) -> None:
        message_id = _id(data, "message", required=True)
        try:
            message = await db_message_load(user=self.user, message_id=message_id)
        except Message.DoesNotExist:
            await self.send_not_found(None)
            return
        if message.status != Message.Status.STREAMING:
            # Already over (a stop racing the end is normal): answer with how it ended.
            await self.send_frame(protocol.message_final_frame(message, staff=self.staff))
            return
        # The confirmation (message.done, status stopped) comes through the conversation; if
        # no generation is alive to give it, the watch sends how the answer ended.
        await self.join_conversation(message.conversation_id)
        await generation_stop(message_id=message.pk)
        self.watch(message, message.last_seq)
        if message.pk not in self.stoppers:
            task = asyncio.create_task(self._stop_until_ended(message.pk))
            self.stoppers[message.pk] = task
            task.add_done_callback(
                lambda done: (
                    self.stoppers.get(message.pk) is done and self.stoppers.pop(message.pk, None)
                )
            )

    async def _stop_until_ended(self, message_id: int) -> None:
        """Ask again until the answer's row says it ended. The channel layer is best effort:
        channels_redis drops a message its shared receive loop was handing over when another
        receive of the process is cancelled at that moment, and a lost stop would leave the
        person clicking Stop with nothing happening. A repeated stop is harmless: a
        generation that already ended has left its group."""
        try:
            for _repeat in range(STOP_REPEATS):
                await asyncio.sleep(STOP_REPEAT_SECONDS)
                current = await db_message_load(user=self.user, message_id=message_id)
                if current.status != Message.Status.STREAMING:
                    return
                await generation_stop(message_id=message_id)
        except Message.DoesNotExist:
            return  # deleted meanwhile
        except Exception:
            logger.warning("asking again to stop message %s failed", message_id, exc_info=True)

    async def handle_chat_resume(self, data: dict[str, Any]) -> None:
        message_id = _id(data, "message", required=True)
        after_seq = data.get("after_seq", 0)
        if type(after_seq) is not int or not 0 <= after_seq <= MAX_ID:
            raise BadRequest("after_seq must be a non-negative integer")
        try:
            message = await db_message_load(user=self.user, message_id=message_id)
        except Message.DoesNotExist:
            await self.send_not_found(None)
            return
        if message.status == Message.Status.STREAMING:
            # The generation sends a snapshot up to seq N, then chat.resumed; this answer's
            # deltas before that are dropped (the snapshot has them), those after it are
            # exactly the deltas after N. Dropped from the moment the socket joins.
            self.resuming.add(message.pk)
        # Joined first (Redis has confirmed the subscription): the snapshot and the deltas
        # after it come on the conversation's path, in order.
        await self.join_conversation(message.conversation_id)
        if message.status == Message.Status.STREAMING:
            await self.ask_to_resume(message, after_seq)
            # It may have ended just before the request reached it: then nobody answers.
            message = await db_message_load(user=self.user, message_id=message_id)
            if message.status == Message.Status.STREAMING:
                self.watch(message, after_seq)
                return
            self.resuming.discard(message.pk)
        await self.send_frame(protocol.message_final_frame(message, staff=self.staff))

    async def ask_to_resume(self, message: Message, after_seq: int) -> None:
        await generation_resume(
            message_id=message.pk,
            reply_channel=self.channel_name,
            after_seq=after_seq,
            conversation_id=message.conversation_id,
        )

    def watch(self, message: Message, after_seq: int) -> None:
        """Make sure a resumed answer ends for this socket even if its generator is dead
        (its process was killed): until the generation confirms (``chat.resumed``), check
        the row every heartbeat; once the stale sweep marks it interrupted, send that."""
        if message.pk in self.confirmed:
            self.confirmed.discard(message.pk)
        elif message.pk not in self.watchers:
            task = asyncio.create_task(self._watch(message, after_seq))
            self.watchers[message.pk] = task

    async def _watch(self, message: Message, after_seq: int) -> None:
        try:
            while True:
                await asyncio.sleep(STREAMING_HEARTBEAT)
                if message.pk not in self.watchers:
                    return  # confirmed alive: its frames come through the group
                current = await db_message_load(user=self.user, message_id=message.pk)
                if current.status != Message.Status.STREAMING:
                    self.resuming.discard(current.pk)
                    await self.send_frame(protocol.message_final_frame(current, staff=self.staff))
                    return
                # Still heartbeating, in another process maybe: the request or its answer
                # may have been lost on the way (both are best effort), so ask again.
                await self.ask_to_resume(current, after_seq)
        except Message.DoesNotExist:
            return  # deleted meanwhile
        except Exception:
            logger.warning("watching message %s failed", message.pk, exc_info=True)
        finally:
            if self.watchers.get(message.pk) is asyncio.current_task():
                del self.watchers[message.pk]

    # --- helpers -----------------------------------------------------------------------------

    async def start(
        self, turn: services.Turn, client_id: str | None, *, continuing: bool = False
    ) -> None:
        # Joined first, so that this socket sees the frames the turn publishes.
        await self.join_conversation(turn.conversation.pk)
        await turn_start(
            user=self.user,
            turn=turn,
            client_id=client_id,
            reply=self.send_frame,
            continuing=continuing,
        )

    async def join(self, group: str) -> None:
        if group not in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def join_conversation(self, conversation_id: int) -> None:
        if conversation_id not in self.conversations:
            self.conversations.add(conversation_id)
            await bus.bus_join(conversation_id=conversation_id, subscriber=self)

    async def leave_conversations(self) -> None:
        conversations, self.conversations = self.conversations, set()
        for conversation_id in conversations:
            await bus.bus_leave(conversation_id=conversation_id, subscriber=self)

    @property
    def bus_address(self) -> str:
        """A resume's snapshot names this socket (the generation's ``reply_channel``)."""
        return str(self.channel_name)

    async def send_frame(self, frame: protocol.Frame) -> None:
        await self.send(text_data=json.dumps(frame))

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_frame(protocol.error_frame(code=code, detail=detail))

    def speaking(self) -> translation.override:
        """Texts a person reads, in their language; the protocol's own (bad_request, meant
        for whoever writes a client) stay English, like the /v1 API's."""
        return translation.override(getattr(self, "language", settings.LANGUAGE_CODE))

    async def send_not_found(self, client_id: str | None) -> None:
        # The same answer for a missing id and for another user's id.
        with self.speaking():
            detail = _("No such conversation or message.")
        await self.send_frame(
            protocol.message_refused_frame(code="not_found", detail=detail, client_id=client_id)
        )

    async def send_assistant_unavailable(self, client_id: str | None, *, new: bool) -> None:
        """The assistant asked for, or the conversation's, may not be used (any more):
        nothing was written, the page gives the text back to the composer."""
        with self.speaking():
            detail = assistant_refusal(new=new)
        await self.send_frame(
            protocol.message_refused_frame(
                code="assistant_unavailable", detail=detail, client_id=client_id
            )
        )

    async def send_too_long(self, client_id: str | None) -> None:
        limit = settings.AIPORTAL_MAX_MESSAGE_CHARS
        with self.speaking():
            detail = ngettext(
                "A message may be at most %(limit)s character long.",
                "A message may be at most %(limit)s characters long.",
                limit,
            ) % {"limit": limit}
        await self.send_frame(
            protocol.message_refused_frame(
                code="too_long", detail=detail, client_id=client_id, limit=limit
            )
        )

    # --- frames of the conversations this socket joined (chat.bus) ----------------------------

    async def bus_receive(self, frame: Mapping[str, Any], text: str) -> None:
        """A frame published to a conversation this socket joined, or sent to it alone (a
        snapshot, ``chat.resumed``): passed on as the text it arrived as. An answer's end also
        ends the asking again to stop it: the same message may be continued right after, and
        that generation must not be stopped."""
        message = frame.get("message")  # an id, or a message.created's payload
        if self.resuming and isinstance(message, int) and message in self.resuming:
            if protocol.event_is_resumed(frame):
                self.resuming.discard(message)
                self.resumed(message)
                return
            if frame.get("type") == "message.delta":
                return  # before its snapshot: the snapshot has it
            if protocol.frame_is_final(frame):
                self.resuming.discard(message)
        if protocol.event_is_resumed(frame):
            self.resumed(message)
            return
        if protocol.frame_is_final(frame):
            self._stop_asking(message)
        if self.shared is None or not self.shared.send_text(text):
            await self.send(text_data=text)

    def resumed(self, message_id: Any) -> None:
        """A resumed answer's generation is alive: its frames come through the conversation."""
        watcher = self.watchers.pop(message_id, None)
        if watcher is not None:
            watcher.cancel()
        elif isinstance(message_id, int):
            self.confirmed.add(message_id)

    # --- channel-layer events ----------------------------------------------------------------

    async def accounts_access_changed(self, event: dict[str, Any]) -> None:
        """The user's account or a session of theirs changed: look again, close if lost."""
        if not self.may_act:
            return
        changed = event.get("session_key")
        if changed is not None and changed != self.session_key:
            return  # another session of theirs
        access = await db_socket_access(user_id=self.user.pk, session_key=self.session_key)
        if access.may_act:
            self.user = access.user
        else:
            await self.access_lost(access)

    async def access_lost(self, access: live.SocketAccess) -> None:
        # Out of every group first: no frame of the user's conversations follows the close.
        self.may_act = False
        await self.leave_conversations()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.clear()
        # 4401 (sign in again), or 4403 with the reason for a pending or suspended account.
        await self.close(code=access.close_code, reason=access.close_reason)

    async def datasets_changed(self, event: dict[str, Any]) -> None:
        """The user's grants or datasets changed: the page refetches what it may pick."""
        await self.send_frame(protocol.datasets_changed_frame())

    async def assistants_changed(self, event: dict[str, Any]) -> None:
        """The user's assistants or their grants changed: the page refetches its picker."""
        await self.send_frame(protocol.assistants_changed_frame())

    def _stop_asking(self, message_id: Any) -> None:
        stopper = self.stoppers.pop(message_id, None)
        if stopper is not None:
            stopper.cancel()

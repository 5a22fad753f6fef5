"""Services and selectors: ownership, the message tree, and the sweep for lost generations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import selectors, services
from chat.models import Conversation, Message
from chat.services.conversations import TITLE_CHARS
from chat.services.messages import STREAMING_STALE_AFTER, Progress

pytestmark = pytest.mark.django_db


def turn(conversation, content, *, parent=None, answer="An answer"):
    question, reply = services.message_create_turn(
        conversation=conversation, parent=parent, content=content, model=""
    )
    services.message_finish(message_id=reply.pk, content=answer, last_seq=1, status="complete")
    reply.refresh_from_db()
    return question, reply


def make_streaming(conversation, *, age: timedelta) -> Message:
    _, reply = services.message_create_turn(
        conversation=conversation, parent=None, content="q", model=""
    )
    Message.objects.filter(pk=reply.pk).update(updated_at=timezone.now() - age)
    return reply


def test_another_users_conversation_looks_missing(owner, outsider):
    conversation = services.conversation_create(user=owner, title="Mine")
    with pytest.raises(Conversation.DoesNotExist):
        selectors.conversation_get(user=outsider, id=conversation.pk)
    with pytest.raises(Conversation.DoesNotExist):
        selectors.conversation_get(user=outsider, id=conversation.pk + 1000)
    assert selectors.conversation_get(user=owner, id=conversation.pk) == conversation


def test_another_users_message_looks_missing(owner, outsider):
    question, _ = turn(services.conversation_create(user=owner), "Hello")
    with pytest.raises(Message.DoesNotExist):
        selectors.message_get(user=outsider, id=question.pk)
    assert selectors.message_get(user=owner, id=question.pk) == question


def test_message_send_refuses_another_users_conversation_and_writes_nothing(owner, outsider):
    conversation = services.conversation_create(user=owner)
    with pytest.raises(Conversation.DoesNotExist):
        services.message_send(
            user=outsider,
            conversation_id=conversation.pk,
            parent_id=None,
            content="x",
            model=None,
        )
    assert Message.objects.count() == 0


def test_message_send_refuses_a_parent_from_another_conversation(owner):
    other, _ = turn(services.conversation_create(user=owner), "Elsewhere")
    conversation = services.conversation_create(user=owner)
    with pytest.raises(Message.DoesNotExist):
        services.message_send(
            user=owner,
            conversation_id=conversation.pk,
            parent_id=other.pk,
            content="x",
            model=None,
        )
    assert conversation.messages.count() == 0


def test_a_new_conversation_is_titled_after_its_first_message(owner):
    result = services.message_send(
        user=owner,
        conversation_id=None,
        parent_id=None,
        content="  How do I   bake\nbread at home without a proper oven, using only a pan?",
        model=None,
    )
    assert result.conversation_created
    title = "How do I bake bread at home without a proper oven, using on…"
    assert result.conversation.title == title
    assert len(result.conversation.title) == TITLE_CHARS
    assert result.assistant_message.status == Message.Status.STREAMING
    assert result.context == [
        {"role": "user", "content": result.user_message.content},
    ]


def test_the_context_is_the_path_from_the_root(owner):
    conversation = services.conversation_create(user=owner)
    q1, a1 = turn(conversation, "First", answer="One")
    q2, a2 = turn(conversation, "Second", parent=a1, answer="Two")
    # A sibling branch (an edit of the second question) is not part of the path.
    turn(conversation, "Second, edited", parent=a1, answer="Two bis")
    assert selectors.message_path(message=a2) == [q1, a1, q2, a2]
    result = services.message_send(
        user=owner,
        conversation_id=conversation.pk,
        parent_id=a2.pk,
        content="Third",
        model=None,
    )
    assert [m["content"] for m in result.context] == ["First", "One", "Second", "Two", "Third"]


def test_answers_that_failed_empty_are_left_out_of_the_context(owner):
    conversation = services.conversation_create(user=owner)
    _, failed = services.message_create_turn(
        conversation=conversation, parent=None, content="Hi", model=""
    )
    services.message_finish(
        message_id=failed.pk, content="", last_seq=0, status="error", error_code="upstream_failed"
    )
    result = services.message_send(
        user=owner,
        conversation_id=conversation.pk,
        parent_id=None,
        content="Again",
        model=None,
    )
    assert result.user_message.parent_id == failed.pk
    assert [m["content"] for m in result.context] == ["Hi", "Again"]


def test_the_thread_follows_the_latest_branch(owner):
    conversation = services.conversation_create(user=owner)
    q1, a1 = turn(conversation, "First")
    turn(conversation, "Old branch", parent=a1)
    q3, a3 = turn(conversation, "New branch", parent=a1)
    assert selectors.conversation_thread(conversation=conversation) == [q1, a1, q3, a3]


def test_conversations_are_listed_most_recent_first_and_only_the_users_own(owner, outsider):
    older = services.conversation_create(user=owner, title="Older")
    newer = services.conversation_create(user=owner, title="Newer")
    services.conversation_create(user=outsider, title="Theirs")
    assert list(selectors.conversation_list(user=owner)) == [newer, older]
    turn(older, "Bump")
    assert list(selectors.conversation_list(user=owner)) == [older, newer]


def test_progress_is_saved_only_while_streaming(owner):
    _, reply = services.message_create_turn(
        conversation=services.conversation_create(user=owner), parent=None, content="q", model=""
    )
    assert services.message_save_progress(message_id=reply.pk, content="Par", last_seq=1)
    services.message_finish(message_id=reply.pk, content="Partial", last_seq=2, status="stopped")
    # A late save (from a saver that lost the race with the end) changes nothing.
    assert not services.message_save_progress(message_id=reply.pk, content="P", last_seq=1)
    reply.refresh_from_db()
    assert (reply.status, reply.content, reply.last_seq) == ("stopped", "Partial", 2)


def test_progress_of_many_answers_is_saved_together_and_only_while_streaming(owner):
    conversation = services.conversation_create(user=owner)
    _, first = services.message_create_turn(
        conversation=conversation, parent=None, content="q1", model=""
    )
    _, second = services.message_create_turn(
        conversation=conversation, parent=None, content="q2", model=""
    )
    _, ended = services.message_create_turn(
        conversation=conversation, parent=None, content="q3", model=""
    )
    services.message_finish(message_id=ended.pk, content="Done", last_seq=3, status="complete")
    stale = timezone.now() - timedelta(minutes=1)
    Message.objects.filter(pk__in=[first.pk, second.pk]).update(updated_at=stale)
    services.message_save_progress_many(
        [
            Progress(message_id=first.pk, content="One so f", reasoning="", last_seq=2),
            Progress(message_id=second.pk, content="Two", reasoning="hm", last_seq=1),
            Progress(message_id=ended.pk, content="D", reasoning="", last_seq=1),
        ]
    )
    rows = {
        m.pk: (m.status, m.content, m.reasoning, m.last_seq)
        for m in Message.objects.filter(pk__in=[first.pk, second.pk, ended.pk])
    }
    assert rows == {
        first.pk: ("streaming", "One so f", "", 2),
        second.pk: ("streaming", "Two", "hm", 1),
        # Ended before the batch: a late save changes nothing.
        ended.pk: ("complete", "Done", "", 3),
    }
    # The save is the heartbeat too: neither streaming answer looks lost now.
    assert services.message_interrupt_stale(conversation_id=conversation.pk) == 0
    assert Message.objects.get(pk=first.pk).updated_at > stale


def test_streaming_messages_without_a_heartbeat_are_marked_interrupted(owner):
    conversation = services.conversation_create(user=owner)
    lost = make_streaming(conversation, age=STREAMING_STALE_AFTER + timedelta(seconds=1))
    alive = make_streaming(conversation, age=timedelta(seconds=1))
    elsewhere = make_streaming(services.conversation_create(user=owner), age=timedelta(minutes=5))
    assert services.message_interrupt_stale(conversation_id=conversation.pk) == 1
    statuses = dict(Message.objects.filter(role="assistant").values_list("pk", "status"))
    assert statuses == {lost.pk: "interrupted", alive.pk: "streaming", elsewhere.pk: "streaming"}
    assert Message.objects.get(pk=lost.pk).error_code == "generator_lost"
    # Without a conversation: every stale one.
    assert services.message_interrupt_stale() == 1
    assert Message.objects.get(pk=elsewhere.pk).status == "interrupted"


def test_finishing_cannot_set_streaming(owner):
    with pytest.raises(ValueError):
        services.message_finish(message_id=1, content="", last_seq=0, status="streaming")


def test_a_turn_in_a_conversation_takes_nine_queries(owner, django_assert_num_queries):
    # The chat's hot path per answer: the conversation, the stale sweep, the parent, the
    # admins' defaults once, the two rows, the conversation's time, the context's path (one
    # query, however long the conversation) and its attachments (one, however many).
    # No savepoint inside the turn's transaction.
    first = services.message_send(
        user=owner, conversation_id=None, parent_id=None, content="hi", model=None
    )
    # Plus the SAVEPOINT and RELEASE of the transaction (the test's own runs outside).
    with django_assert_num_queries(9 + 2):
        turn = services.message_send(
            user=owner,
            conversation_id=first.conversation.pk,
            parent_id=None,
            content="again",
            model=None,
        )
    assert [m["content"] for m in turn.context] == ["hi", "again"]

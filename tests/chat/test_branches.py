"""The conversation as a tree: which branch is shown, a message's siblings, a new first
message, and what the model sees (the system prompt first, the admins' defaults)."""

from __future__ import annotations

import pytest

from chat import selectors, services
from chat.models import ChatDefaults, Message
from tests.chat.conftest import send_frame, signed_in

pytestmark = pytest.mark.django_db


def turn(conversation, content, *, parent=None, answer="An answer"):
    question, reply = services.message_create_turn(
        conversation=conversation, parent=parent, content=content, model=""
    )
    services.message_finish(message_id=reply.pk, content=answer, last_seq=1, status="complete")
    reply.refresh_from_db()
    return question, reply


def answer_to(question, text):
    reply = Message.objects.create(
        conversation=question.conversation,
        parent=question,
        role=Message.Role.ASSISTANT,
        content=text,
    )
    return reply


@pytest.fixture
def forked(owner):
    """q1 - a1 - q2 - a2, with a regeneration a1b of a1 (q1's second answer) that came
    later, and q2 edited to q2b under a1."""
    conversation = services.conversation_create(user=owner, title="Forked")
    q1, a1 = turn(conversation, "First")
    q2, a2 = turn(conversation, "Second", parent=a1)
    q2b, a2b = turn(conversation, "Second, edited", parent=a1)
    a1b = answer_to(q1, "First, again")
    return conversation, {
        "q1": q1,
        "a1": a1,
        "q2": q2,
        "a2": a2,
        "q2b": q2b,
        "a2b": a2b,
        "a1b": a1b,
    }


def test_the_shown_branch_is_the_path_to_the_most_recent_leaf(forked):
    conversation, m = forked
    tree = selectors.message_tree(conversation=conversation)
    assert selectors.branch_leaf(tree=tree) == m["a1b"].pk
    assert selectors.conversation_thread(conversation=conversation) == [m["q1"], m["a1b"]]


def test_switching_to_a_sibling_shows_the_most_recent_leaf_under_it(forked):
    conversation, m = forked
    tree = selectors.message_tree(conversation=conversation)
    assert selectors.branch_leaf(tree=tree, message_id=m["a1"].pk) == m["a2b"].pk
    assert selectors.branch_leaf(tree=tree, message_id=m["q2"].pk) == m["a2"].pk
    assert selectors.branch_path(tree=tree, leaf_id=m["a2"].pk) == [
        m[k].pk for k in ("q1", "a1", "q2", "a2")
    ]
    shown = selectors.conversation_thread(conversation=conversation, leaf_id=m["a2b"].pk)
    assert [x.content for x in shown] == ["First", "An answer", "Second, edited", "An answer"]


def test_siblings_are_the_messages_with_the_same_parent_in_creation_order(forked):
    conversation, m = forked
    tree = selectors.message_tree(conversation=conversation)
    assert selectors.message_siblings(tree=tree, message_id=m["a1b"].pk) == [
        m["a1"].pk,
        m["a1b"].pk,
    ]
    assert selectors.message_siblings(tree=tree, message_id=m["q2b"].pk) == [
        m["q2"].pk,
        m["q2b"].pk,
    ]
    assert selectors.message_siblings(tree=tree, message_id=m["q1"].pk) == [m["q1"].pk]


def test_the_tree_carries_ids_parents_roles_and_statuses_only(forked):
    conversation, m = forked
    tree = selectors.message_tree(conversation=conversation)
    assert tree[0] == [m["q1"].pk, None, "user", "complete"]
    assert tree[1] == [m["a1"].pk, m["q1"].pk, "assistant", "complete"]
    assert len(tree) == 7


def test_an_edit_of_the_first_message_is_a_new_root(owner, forked):
    conversation, m = forked
    result = services.message_send(
        user=owner,
        conversation_id=conversation.pk,
        parent_id=None,
        content="First, edited",
        model=None,
        root=True,
    )
    assert result.user_message.parent_id is None
    tree = selectors.message_tree(conversation=conversation)
    assert selectors.message_siblings(tree=tree, message_id=result.user_message.pk) == [
        m["q1"].pk,
        result.user_message.pk,
    ]
    assert result.context == [{"role": "user", "content": "First, edited"}]


def test_the_context_follows_the_branch_a_message_continues(owner, forked):
    conversation, m = forked
    result = services.message_send(
        user=owner,
        conversation_id=conversation.pk,
        parent_id=m["a2"].pk,
        content="Third",
        model=None,
    )
    assert [x["content"] for x in result.context] == [
        "First",
        "An answer",
        "Second",
        "An answer",
        "Third",
    ]


def test_the_path_of_a_long_conversation_takes_one_query(owner, django_assert_num_queries):
    conversation = services.conversation_create(user=owner)
    parent = None
    rows = []
    for i in range(400):
        parent = Message(conversation=conversation, parent=parent, role="user", content=f"m{i}")
        parent.save()
        rows.append(parent)
        if i % 50 == 0:  # other branches beside the path: not in it
            Message.objects.create(conversation=conversation, parent=parent, role="user")
    with django_assert_num_queries(1):
        path = selectors.message_path(message=rows[-1])
    assert [m.content for m in path] == [f"m{i}" for i in range(400)]
    assert [m.pk for m in selectors.message_path(message=rows[0])] == [rows[0].pk]
    assert [m.content for m in selectors.message_path(message=rows[2])] == ["m0", "m1", "m2"]


def test_the_system_prompt_comes_first_in_the_context(owner):
    conversation = services.conversation_create(user=owner)
    services.conversation_settings_update(
        conversation=conversation, system_prompt="Answer in French."
    )
    question, _ = turn(conversation, "Hello")
    assert selectors.message_context(message=question) == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
    ]


def test_the_admins_default_system_prompt_applies_when_a_conversation_has_none(owner):
    defaults = ChatDefaults.load()
    defaults.system_prompt = "Be brief."
    defaults.model = "house-model"
    defaults.save()
    conversation = services.conversation_create(user=owner)
    question, _ = turn(conversation, "Hello")
    assert selectors.message_context(message=question)[0] == {
        "role": "system",
        "content": "Be brief.",
    }
    assert selectors.conversation_model(conversation=conversation) == "house-model"
    # The conversation's own choices win over the defaults.
    services.conversation_settings_update(
        conversation=conversation, system_prompt="Be long.", model="mine"
    )
    assert selectors.message_context(message=question)[0]["content"] == "Be long."
    assert selectors.conversation_model(conversation=conversation) == "mine"


def test_without_any_system_prompt_the_context_has_no_system_message(owner):
    conversation = services.conversation_create(user=owner)
    question, _ = turn(conversation, "Hello")
    assert selectors.message_context(message=question) == [{"role": "user", "content": "Hello"}]


def test_chat_defaults_is_a_singleton(owner):
    ChatDefaults(model="a").save()
    ChatDefaults(model="b").save()
    assert ChatDefaults.objects.count() == 1
    assert ChatDefaults.load().model == "b"


def test_a_model_sent_with_a_message_becomes_the_conversations(owner):
    conversation = services.conversation_create(user=owner)
    result = services.message_send(
        user=owner, conversation_id=conversation.pk, parent_id=None, content="Hi", model="other"
    )
    conversation.refresh_from_db()
    assert conversation.model == "other"
    assert result.model == "other"
    # The next message without a model keeps it.
    again = services.message_send(
        user=owner, conversation_id=conversation.pk, parent_id=None, content="Hi", model=None
    )
    assert again.model == "other"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_leftover_generations")
async def test_chat_send_with_root_starts_a_sibling_of_the_first_message(owner, workers):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("First", client_id="a"))
        first = await socket.assistant_created()
        await socket.until_final(first["id"])
        await socket.send(
            send_frame("First, edited", conversation=first["conversation"], root=True)
        )
        question = await socket.until(
            lambda f: (
                f["type"] == "message.created"
                and f["message"]["role"] == "user"
                and f["message"]["content"] == "First, edited"
            )
        )
        assert question["message"]["parent"] is None
        answer = await socket.assistant_created()
        await socket.until_final(answer["id"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "fields",
    [{"root": "yes"}, {"root": True, "parent": 1}, {"root": True, "conversation": None}],
)
async def test_chat_send_refuses_a_bad_root(owner, fields):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("x", **{"conversation": 1, **fields}))
        frame = await socket.receive()
        assert frame["type"] == "error"
        assert frame["code"] == "bad_request"
        assert "root" in frame["detail"]

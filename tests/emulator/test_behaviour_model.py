"""The behaviour model shared by the emulator and the routing simulator, rule by rule, without
HTTP (docs/emulator.md, "The behaviour model"). Each test pins one of vLLM v1's rules."""

from __future__ import annotations

import copy

import pytest

from gateway.emulator.engine import block_hasher
from gateway.emulator.model import FINISHED, RUNNING, WAITING, EngineLimits, EngineModel, Sequence


def tokens(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def seq(prompt: list[str], answer: list[str], *, block_size: int) -> Sequence:
    return Sequence(
        prompt_tokens=len(prompt),
        max_tokens=len(answer),
        block_hash=block_hasher([*prompt, *answer], block_size),
    )


def run(engine: EngineModel, *seqs: Sequence, limit: int = 10_000) -> int:
    """Step until every sequence has finished; returns the steps taken."""
    for steps in range(1, limit):
        engine.step()
        if all(s.status == FINISHED for s in seqs):
            return steps
    raise AssertionError("the engine never finished")


def test_the_prefix_cache_matches_whole_blocks_of_a_shared_prefix():
    engine = EngineModel(EngineLimits(num_blocks=100, block_size=4))
    turn1 = tokens("a", 10)  # two full blocks (the last token never counts)
    first = seq(turn1, ["x"], block_size=4)
    engine.add(first)
    run(engine, first)
    again = seq(turn1, ["x"], block_size=4)
    longer = seq([*turn1, *tokens("b", 7)], ["y"], block_size=4)
    other = seq(["z", *turn1[1:]], ["x"], block_size=4)  # a different first block
    for s in (again, longer, other):
        engine.add(s)
    run(engine, again, longer, other)

    assert (first.hit_tokens, again.hit_tokens, longer.hit_tokens) == (0, 8, 8)
    assert other.hit_tokens == 0
    assert (engine.query_tokens, engine.hit_tokens) == (10 + 10 + 17 + 10, 8 + 8)


def test_answer_blocks_are_cached_as_well_as_prompt_blocks():
    # Turn 2's prompt is turn 1's prompt, turn 1's answer and a new message.
    engine = EngineModel(EngineLimits(num_blocks=100, block_size=4))
    prompt, answer = tokens("p", 8), tokens("a", 13)
    turn1 = seq(prompt, answer, block_size=4)
    engine.add(turn1)
    run(engine, turn1)
    turn2 = seq([*prompt, *answer, *tokens("m", 5)], ["x"], block_size=4)
    engine.add(turn2)
    engine.step()

    # 8 prompt + 13 answer tokens, of which the last was sampled but never computed: 20
    # tokens in 5 full blocks, all hits, the answer's 3 included.
    assert turn2.hit_tokens == 20


def test_admission_is_held_back_while_the_kv_cache_cannot_hold_the_whole_prompt():
    # 10 blocks of 4 tokens; the first request holds 6 of them.
    engine = EngineModel(EngineLimits(num_blocks=10, block_size=4, max_num_batched_tokens=8))
    big = seq(tokens("a", 23), tokens("x", 10), block_size=4)
    engine.add(big)
    for _ in range(4):
        engine.step()  # 23 prompt tokens in chunks of 8, then a first decode
    assert big.status == RUNNING and len(big.blocks) == 6
    # 20 prompt tokens = 5 blocks > the 4 free; its first chunk (8 tokens, 2 blocks) would fit.
    long = seq(tokens("b", 20), ["y"], block_size=4)
    short = seq(tokens("c", 3), ["z"], block_size=4)  # fits, but FIFO: waits behind it
    engine.add(long)
    engine.add(short)
    engine.step()

    assert (long.status, short.status) == (WAITING, WAITING)
    assert len(engine.running) == 1 < engine.limits.max_num_seqs
    run(engine, big)
    engine.step()
    assert long.status == RUNNING


def test_a_decode_without_a_block_preempts_the_newest_request_which_is_recomputed():
    engine = EngineModel(EngineLimits(num_blocks=6, block_size=4))
    old = seq(tokens("a", 8), tokens("x", 8), block_size=4)
    new = seq(tokens("b", 8), tokens("y", 8), block_size=4)
    engine.add(old)
    engine.step()  # old: 8 prompt tokens in 2 blocks, first token
    engine.add(new)
    preempted = []
    for _ in range(10):
        preempted += engine.step().preempted
        if preempted:
            break

    assert preempted == [new]
    assert engine.preemptions == 1
    assert (old.status, new.status) == (RUNNING, WAITING)
    assert new.computed == 0 and new.blocks == [] and engine.waiting[0] is new
    run(engine, old, new)
    # Recomputed from the cache: its prompt blocks were still there when it came back.
    assert new.last_hit > 0 and new.output_tokens == 8


def test_concurrent_prefills_share_one_token_budget_per_step():
    engine = EngineModel(EngineLimits(num_blocks=1000, block_size=16, max_num_batched_tokens=2048))
    first, second, third = (seq(tokens(p, 1500), ["x", "y"], block_size=16) for p in "abc")
    for s in (first, second, third):
        engine.add(s)

    step = engine.step()
    assert step.prefill_tokens == 2048  # 1500 + the first 548 of the second
    assert (step.first, third.status) == ([first], WAITING)  # no budget left to admit it
    step = engine.step()
    # One token goes to the first request's decode, 952 finish the second prompt, and the
    # third gets what is left: 1,095 of its 1,500.
    assert (step.decodes, step.prefill_tokens, step.first) == (1, 2047, [second])
    assert third.computed == 1095


def test_running_and_cached_blocks_share_one_pool():
    engine = EngineModel(EngineLimits(num_blocks=8, block_size=4))
    prompt = tokens("a", 17)
    first = seq(prompt, ["x"], block_size=4)
    engine.add(first)
    run(engine, first)
    # Finished: its 4 full blocks stay cached, yet the pool counts them as free.
    assert engine.pool.cached_blocks == 4
    assert engine.pool.usage() == 0 and engine.pool.free_blocks == 8

    # A request that needs every block is admitted at once: the cache gives its blocks back.
    whole = seq(tokens("b", 31), ["y"], block_size=4)
    engine.add(whole)
    engine.step()
    assert whole.status in (RUNNING, FINISHED) and engine.pool.evictions == 4
    again = seq(prompt, ["x"], block_size=4)
    engine.add(again)
    engine.step()
    assert again.hit_tokens == 0


def test_the_least_recently_used_cached_blocks_are_evicted_first():
    engine = EngineModel(EngineLimits(num_blocks=6, block_size=2))
    first, second, third = tokens("a", 5), tokens("b", 5), tokens("c", 5)  # 2 full blocks each
    for prompt in (first, second, first):  # first used again: second is now the oldest
        s = seq(prompt, ["x"], block_size=2)
        engine.add(s)
        run(engine, s)
    last = seq(third, ["x"], block_size=2)
    engine.add(last)
    run(engine, last)

    hits = {}
    for name, prompt in (("first", first), ("second", second)):
        s = seq(prompt, ["x"], block_size=2)
        engine.add(s)
        engine.step()
        hits[name] = s.hit_tokens
        run(engine, s)
    assert hits == {"first": 4, "second": 0}


def test_without_prefix_caching_nothing_hits_or_counts():
    engine = EngineModel(EngineLimits(num_blocks=100, block_size=2, prefix_caching=False))
    for _ in range(2):
        s = seq(tokens("a", 9), ["x"], block_size=2)
        engine.add(s)
        run(engine, s)
    assert s.hit_tokens == 0 and engine.query_tokens == 0 and engine.pool.cached_blocks == 0


def test_max_num_seqs_caps_the_batch():
    engine = EngineModel(EngineLimits(num_blocks=100, block_size=4, max_num_seqs=2))
    seqs = [seq(tokens(f"p{i}", 4), tokens("x", 5), block_size=4) for i in range(3)]
    for s in seqs:
        engine.add(s)
    engine.step()
    assert [s.status for s in seqs] == [RUNNING, RUNNING, WAITING]


@pytest.mark.parametrize("steps", [1, 5, 13])
def test_a_steady_run_of_decodes_is_the_same_as_stepping_one_by_one(steps):
    engine = EngineModel(EngineLimits(num_blocks=40, block_size=4))
    for i, length in enumerate((20, 33, 18)):
        engine.add(seq(tokens(f"p{i}", 6 + i), tokens("x", length), block_size=4))
    for _ in range(3):
        engine.step()
    assert engine.steady_steps(steps) == steps
    stepped = copy.deepcopy(engine)
    for _ in range(steps):
        stepped.step()
    engine.decode(steps)

    def shape(e: EngineModel):
        return [(s.output_tokens, s.computed, len(s.blocks), s.committed) for s in e.running]

    assert shape(engine) == shape(stepped)
    assert engine.pool.free_blocks == stepped.pool.free_blocks
    assert engine.pool.cached_blocks == stepped.pool.cached_blocks

"""A simulated vLLM worker: the shared behaviour model (gateway/emulator/model) stepped in
simulated time.

Each step is decided by the model at its start (who runs, who is admitted, who is preempted,
what the prefix cache gives) and lasts what ``StepCost`` charges for the work it scheduled,
divided by the worker's speed; its tokens land at its end, when the next step starts. An
idle worker wakes when a request arrives.

Stepping one step at a time would cost more than the routing under test, so a run of
identical pure-decode steps (the model says when the next ones are, ``steady_steps``) is one
event; a request arriving in the middle cuts it at the end of the step in progress, which is
when the real scheduler would first see it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from bench.sim.workload import Request
from gateway.emulator.model import EngineLimits, EngineModel, Sequence, Step, StepCost


@dataclass(frozen=True)
class WorkerClass:
    name: str
    speed: float  # step-cost divisor: 1.0 is the medium GPU
    max_batch: int  # vLLM's max_num_seqs
    kv_blocks: int


@dataclass(frozen=True)
class EngineCost:
    step: StepCost = field(default_factory=StepCost)
    token_budget: int = 2048  # vLLM's max_num_batched_tokens (chunked prefill)
    block_size: int = 16


def block_identity(request: Request, block_size: int) -> Callable[[int], Hashable]:
    """What block ``i`` of a request's prompt + answer holds. The simulated prompts are
    append-only (a shared system prompt, then one conversation's turns, each answer followed
    by the next message), so a block is named by whose text it holds and where: blocks
    wholly inside the system prompt are shared by every conversation that uses it."""
    system_blocks = request.system_tokens // block_size
    system, conversation = request.system, request.conversation

    def identity(index: int) -> Hashable:
        if index < system_blocks:
            return (-1 - system, index)
        return (conversation, index)

    return identity


class SimWorker:
    RUN_LIMIT = 50  # steps in one steady run at most (~1 s): the probe sees KV use move

    def __init__(
        self,
        index: int,
        kind: WorkerClass,
        *,
        cost: EngineCost,
        prefix_caching: bool,
        on_first_token: Callable[[Request, float], None],
        on_finish: Callable[[Request, float], None],
    ) -> None:
        self.index = index
        self.kind = kind
        self.cost = cost
        self.model = EngineModel(
            EngineLimits(
                num_blocks=kind.kv_blocks,
                block_size=cost.block_size,
                max_num_seqs=kind.max_batch,
                max_num_batched_tokens=cost.token_budget,
                prefix_caching=prefix_caching,
            )
        )
        self.on_first_token = on_first_token
        self.on_finish = on_finish
        self.current: Step | None = None  # the step in progress
        self.reported = (0, 0)  # (running, waiting) as of the last step's scheduling
        self.step_ends = 0.0
        # A run of steady decode steps in progress: its start, step length and step count.
        self.run: tuple[float, float, int] | None = None
        self.version = 0  # bumped whenever a step is started
        self.steps = 0
        self.prefilled = 0  # tokens computed by prefill, recomputation included
        self.decoded = 0

    # --- gauges, as vLLM's /metrics would report them -----------------------------------
    # vLLM's engine takes in new requests between steps and reports its gauges after each
    # step's scheduling, so a request that arrives during a step is not "waiting" yet: the
    # waiting gauge counts only the requests the scheduler held back.
    @property
    def running(self) -> int:
        return self.reported[0]

    @property
    def waiting(self) -> int:
        return self.reported[1]

    def kv_usage(self) -> float:
        return self.model.pool.usage()

    # --- the event loop's interface -----------------------------------------------------
    def next_event(self) -> float | None:
        return self.step_ends if self.current is not None or self.run is not None else None

    def submit(self, request: Request, now: float) -> None:
        seq = Sequence(
            prompt_tokens=request.prompt_tokens,
            max_tokens=request.output_tokens,
            block_hash=block_identity(request, self.cost.block_size),
            owner=request,
        )
        self.model.add(seq)
        if self.run is not None:
            started, length, steps = self.run
            done = min(steps, int((now - started) / length) + 1)
            if done < steps:
                self.run = (started, length, done)
                self.step_ends = started + done * length
                self.version += 1
        elif self.current is None:
            self._start(now)

    def fire(self, now: float) -> None:
        """The step in progress ends at ``now``: deliver its tokens, start the next one."""
        step, self.current = self.current, None
        if self.run is not None:
            steps = self.run[2]
            self.run = None
            step = self.model.decode(steps)
            self.steps += steps
            self.decoded += step.decodes
        if step is not None:
            for seq in step.first:
                self.on_first_token(seq.owner, now)
            for seq in step.finished:
                self.on_finish(seq.owner, now)
        self._start(now)

    def _start(self, now: float) -> None:
        model = self.model
        self.reported = (len(model.running), len(model.waiting))
        if not model.busy:
            return
        steady = self.model.steady_steps(self.RUN_LIMIT)
        if steady > 1:
            length = self.cost.step.seconds(Step(decodes=self.running), speed=self.kind.speed)
            self.run = (now, length, steady)
            self.step_ends = now + steady * length
            self.version += 1
            return
        step = model.step()
        self.reported = (len(model.running), len(model.waiting))
        for seq in step.admitted:
            request: Request = seq.owner
            if seq.preemptions == 0:
                request.admitted = now
                request.hit_tokens = seq.hit_tokens or 0
        if step.idle:
            return  # nothing fits (cannot happen while requests fit an empty cache)
        self.steps += 1
        self.prefilled += step.prefill_tokens
        self.decoded += step.decodes
        self.current = step
        self.step_ends = now + self.cost.step.seconds(step, speed=self.kind.speed)
        self.version += 1

